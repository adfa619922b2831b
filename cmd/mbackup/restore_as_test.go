package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"mbackup/internal/testenv"
)

// tablesMD5 is one md5 over every row of mastodon_production's tables, in
// key order, in database db of p.
func tablesMD5(t *testing.T, p *testenv.Postgres, db string) string {
	t.Helper()
	return p.Query(t, db, `SELECT md5((SELECT string_agg(a::text, ',' ORDER BY id) FROM accounts a) || '|' ||
		(SELECT string_agg(s::text, ',' ORDER BY id) FROM statuses s))`)
}

// TestRestoreAs restores mastodon_production as mastodon_check next to
// the original on the same server (a check before a cut-over), and a
// MariaDB database likewise: equal rows, the dump's owner, the report
// naming the copy. A second one onto the copy is refused naming --as, and
// a whole restore onto a new server ends with Mastodon's after-steps and
// the recovery time.
func TestRestoreAs(t *testing.T) {
	p, m := testenv.StartPostgres(t), testenv.StartMariaDB(t)
	p.Exec(t, "postgres", "CREATE ROLE mastodon LOGIN; CREATE DATABASE mastodon_production OWNER mastodon")
	p.Exec(t, "mastodon_production", `SET ROLE mastodon;
		CREATE TABLE accounts (id int PRIMARY KEY, username text); INSERT INTO accounts VALUES (1, 'alice'), (2, 'bob');
		CREATE TABLE statuses (id bigserial PRIMARY KEY, account_id int REFERENCES accounts, text text);
		INSERT INTO statuses (account_id, text) SELECT 1 + g % 2, 'toot ' || g FROM generate_series(1, 5000) g`)
	m.Exec(t, "", "CREATE DATABASE blog")
	m.Exec(t, "blog", "CREATE TABLE posts (id int PRIMARY KEY); INSERT INTO posts VALUES (1), (2)")
	dir, cfg := namesConfig(t, p, m)
	if code, out, errOut := mbackup(t, "--config", cfg, "backup"); code != exitOK {
		t.Fatalf("backup exited %d:\n%s%s", code, out, errOut)
	}
	t.Setenv("PGPASSWORD", p.Password)
	t.Setenv("MYSQL_PWD", m.Password)
	pgArgs := []string{"--config", cfg, "restore", "--yes", "-i", filepath.Join(dir, "id.txt"), "--staging", t.TempDir(),
		"--pg-host", p.Host, "--pg-port", strconv.Itoa(p.Port), "--pg-user", p.User, "--pg-sslmode", "disable"}
	asCheck := append(pgArgs, "--only", "postgres/mastodon_production", "--as", "mastodon_check")
	code, out, errOut := mbackup(t, asCheck...)
	t.Logf("restore --as printed:\n%s", out)
	if code != exitOK {
		t.Fatalf("restore --as exited %d:\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"postgres/mastodon_production: create database mastodon_check on PostgreSQL",
		"(postgres/mastodon_production under another name)", "2 tables' rows as at backup",
		"mastodon_check is a copy of mastodon_production, restored next to it", `dropdb "mastodon_check"`, "(the recovery time, RTO)"} {
		if !strings.Contains(out, want) {
			t.Errorf("restore --as printed no %q", want)
		}
	}
	if strings.Contains(out, "tootctl") {
		t.Error("the after-steps of a cut-over were printed for a copy")
	}
	if a, b := tablesMD5(t, p, "mastodon_production"), tablesMD5(t, p, "mastodon_check"); a != b || a == "" {
		t.Errorf("md5 of the original %s, of the copy %s", a, b)
	}
	if got := p.Query(t, "postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'mastodon_check'"); got != "mastodon" {
		t.Errorf("mastodon_check is owned by %q", got)
	}

	code, out, errOut = mbackup(t, asCheck...)
	if code != exitError || !strings.Contains(errOut, "check database mastodon_check on PostgreSQL") ||
		!strings.Contains(errOut, "the database exists and is not empty") ||
		!strings.Contains(errOut, "--only postgres/mastodon_production --as mastodon_check_check") {
		t.Errorf("a second restore --as mastodon_check exited %d:\n%s\n%s", code, out, errOut)
	}

	code, out, errOut = mbackup(t, "--config", cfg, "restore", "--yes", "-i", filepath.Join(dir, "id.txt"), "--staging", t.TempDir(),
		"--mysql-host", m.Host, "--mysql-port", strconv.Itoa(m.Port), "--mysql-user", m.User, "--only", "mysql/blog", "--as", "blog_check")
	if code != exitOK || !strings.Contains(out, "blog_check is a copy of blog") || !strings.Contains(out, "DROP DATABASE `blog_check`") {
		t.Fatalf("restore --as blog_check exited %d:\n%s\n%s", code, out, errOut)
	}
	if got := m.Query(t, "blog_check", "SELECT count(*) FROM posts"); got != "2" {
		t.Errorf("blog_check.posts: %s rows", got)
	}

	fresh := testenv.StartPostgres(t)
	t.Setenv("PGPASSWORD", fresh.Password)
	code, out, errOut = mbackup(t, "--config", cfg, "restore", "--yes", "-i", filepath.Join(dir, "id.txt"), "--staging", t.TempDir(),
		"--pg-host", fresh.Host, "--pg-port", strconv.Itoa(fresh.Port), "--pg-user", fresh.User, "--pg-sslmode", "disable",
		"--only", "postgres/globals,postgres/mastodon_production")
	t.Logf("restore onto a new server printed:\n%s", out)
	if code != exitOK {
		t.Fatalf("restore onto a new server exited %d:\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"Mastodon (mastodon_production) is back", "RAILS_ENV=production bin/tootctl feeds build",
		"tootctl search deploy", "ES_ENABLED=true", "systemctl start mastodon-web mastodon-sidekiq mastodon-streaming", "DNS", "TLS",
		"step total", "restored in ", "(the recovery time, RTO)"} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if a, b := tablesMD5(t, p, "mastodon_production"), tablesMD5(t, fresh, "mastodon_production"); a != b {
		t.Errorf("md5 of the original %s, of the restore %s", a, b)
	}
}

// TestRestoreAsRefusals: --as with anything but one database selected,
// or a name the engine cannot hold, and --json without --dry-run, are
// refused before anything is written.
func TestRestoreAsRefusals(t *testing.T) {
	dir, cfg, _ := restoreFixture(t)
	f := startFresh(t)
	flags := append(f.flags(filepath.Join(dir, "id.txt")), "--staging", t.TempDir())
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"two databases", []string{"--only", "postgres/rst_app,mysql/rst_blog", "--as", "x"}, exitError,
			"the selection holds postgres/rst_app, mysql/rst_blog: select exactly one database"},
		{"a database and the globals", []string{"--only", "postgres", "--as", "x"}, exitError,
			"the selection holds postgres/globals (not a database), postgres/rst_app"},
		{"the globals", []string{"--only", "postgres/globals", "--as", "x"}, exitError, "postgres/globals (not a database)"},
		{"redis", []string{"--only", "redis", "--as", "x"}, exitError, "redis/main (not a database)"},
		{"no --only", []string{"--as", "x"}, exitUsage, "--as x needs --only naming the one database"},
		{"a name too long", []string{"--only", "postgres/rst_app", "--as", strings.Repeat("n", 64)}, exitError, "64 bytes, PostgreSQL takes at most 63"},
		{"a MySQL name ending in a space", []string{"--only", "mysql/rst_blog", "--as", "x "}, exitError, "ends with a space"},
		{"--json without --dry-run", []string{"--json"}, exitUsage, "--json prints the plan of a dry run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := mbackup(t, append(append([]string{"--config", cfg, "restore"}, flags...), tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exited %d, want %d and %q:\n%s\n%s", code, tc.code, tc.want, out, errOut)
			}
			t.Log(strings.TrimSpace(errOut))
			if got := f.pg.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname IN ('rst_app', 'x')"); got != "0" {
				t.Error("a database was created")
			}
			f.untouched(t)
		})
	}
	if _, err := os.Stat(filepath.Join(f.redis.Dir, "dump.rdb")); err == nil {
		t.Error("a dump.rdb was written")
	}
}
