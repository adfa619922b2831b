package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"mbackup/internal/snapshot"
	"mbackup/internal/testenv"
)

// mbackupIn runs the CLI with stdin, as a pipe would feed it.
func mbackupIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// restoreFixture takes a snapshot of database rst_app, Redis and MariaDB
// database rst_blog, and returns its directory, config and manifest.
func restoreFixture(t *testing.T) (dir, cfg string, m *snapshot.Manifest) {
	t.Helper()
	pg.Exec(t, "postgres", "DROP DATABASE IF EXISTS rst_app; DROP ROLE IF EXISTS rst_owner; CREATE ROLE rst_owner LOGIN; CREATE DATABASE rst_app OWNER rst_owner")
	pg.Exec(t, "rst_app", "SET ROLE rst_owner; CREATE TABLE toots (id serial PRIMARY KEY, body text); INSERT INTO toots (body) SELECT 'toot ' || g FROM generate_series(1, 3000) g")
	redis.Do(t, "SET", "rst:key", "value")
	maria.Exec(t, "", "DROP DATABASE IF EXISTS rst_blog; CREATE DATABASE rst_blog")
	maria.Exec(t, "rst_blog", "CREATE TABLE posts (id int PRIMARY KEY); INSERT INTO posts VALUES (1), (2)")
	dir, cfg = setup(t, "  databases: [rst_app]\n")
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(text, "  databases: [rst_blog]\n"...), 0o600)
	if code, out, errOut := mbackup(t, "--config", cfg, "backup"); code != exitOK {
		t.Fatalf("backup exited %d:\n%s\n%s", code, out, errOut)
	}
	return dir, cfg, onlySnapshot(t, cfg)
}

// TestRestoreGuided answers every prompt through a pipe, as an admin
// would type them, and finds all three components restored.
func TestRestoreGuided(t *testing.T) {
	dir, cfg, m := restoreFixture(t)
	fresh, freshRedis, freshMaria := testenv.StartPostgres(t), testenv.StartRedis(t), testenv.StartMariaDB(t)
	freshRedis.Stop(t)
	answers := []string{
		"",                           // this snapshot
		filepath.Join(dir, "id.txt"), // identity file
		"y", "yes", "",               // postgres, redis, mysql
		fresh.Host, strconv.Itoa(fresh.Port), fresh.User, fresh.Password,
		freshMaria.Host, strconv.Itoa(freshMaria.Port), freshMaria.User, freshMaria.Password,
		freshRedis.Dir, "", // data directory, file name
		"maybe", "n", // clean? (a wrong answer is asked again)
		"restore",
	}
	t.Setenv("PGPASSWORD", "")
	t.Setenv("MYSQL_PWD", "")
	os.Unsetenv("PGPASSWORD") // t.Setenv puts them back afterwards
	os.Unsetenv("MYSQL_PWD")
	code, out, errOut := mbackupIn(t, strings.Join(answers, "\n")+"\n", "--config", cfg, "restore", "--staging", t.TempDir())
	t.Logf("restore printed:\n%s", out)
	if code != exitOK {
		t.Fatalf("restore exited %d:\n%s", code, errOut)
	}
	for _, want := range []string{
		"snapshot " + m.ID + " (complete) of host test-host",
		"Restore this snapshot?", "age identity file", "Restore postgres: globals, rst_app", "Restore redis: main",
		"  password (empty: none, or ~/.pgpass): ", `please answer "yes" or "no"`,
		"Plan, in this order", "1. postgres/globals: create the dump's roles",
		"replace " + freshRedis.Dir + "/dump.rdb", `Type "restore" to begin`,
		"postgres/rst_app", "1 tables' rows as at backup", "roles created: ", "rst_owner",
		"start the Redis server now", "restored in ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if strings.Contains(out+errOut, fresh.Password) || strings.Contains(out+errOut, freshMaria.Password) {
		t.Error("a password was echoed")
	}
	if got := fresh.Query(t, "rst_app", "SELECT count(*) || ' ' || pg_get_userbyid(relowner) FROM toots, pg_class WHERE relname = 'toots' GROUP BY relowner"); got != "3000 rst_owner" {
		t.Errorf("rst_app after restore: %q", got)
	}
	if got := freshMaria.Query(t, "rst_blog", "SELECT count(*) FROM posts"); got != "2" {
		t.Errorf("rst_blog.posts after restore: %s rows", got)
	}
	freshRedis.Start(t)
	if got := freshRedis.Do(t, "GET", "rst:key"); got != "value" {
		t.Errorf("rst:key after restore: %q", got)
	}
}

// TestRestoreYes restores with flags only, then refuses a second restore
// into the now non-empty database unless --clean.
func TestRestoreYes(t *testing.T) {
	dir, cfg, m := restoreFixture(t)
	fresh := testenv.StartPostgres(t)
	t.Setenv("PGPASSWORD", fresh.Password)
	args := []string{"--config", cfg, "restore", "--yes", "-i", filepath.Join(dir, "id.txt"), "--only", "postgres",
		"--pg-host", fresh.Host, "--pg-port", strconv.Itoa(fresh.Port), "--pg-user", fresh.User, "--pg-sslmode", "disable",
		"--staging", t.TempDir(), m.ID}
	code, out, errOut := mbackup(t, args...)
	if code != exitOK || !strings.Contains(out, "restored in") {
		t.Fatalf("restore --yes exited %d:\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = mbackup(t, args...)
	// Refused before the first step: the globals are not applied again.
	if code != exitError || !strings.Contains(errOut, "not empty") || !strings.Contains(errOut, "nothing was restored") || strings.Contains(out, "postgres/globals: restored") {
		t.Fatalf("a second restore exited %d:\n%s\n%s", code, out, errOut)
	}
	fresh.Exec(t, "rst_app", "INSERT INTO toots (body) VALUES ('written after the restore')")
	code, out, errOut = mbackup(t, append(args, "--clean")...)
	if code != exitOK {
		t.Fatalf("restore --clean exited %d:\n%s\n%s", code, out, errOut)
	}
	if got := fresh.Query(t, "rst_app", "SELECT count(*) FROM toots"); got != "3000" {
		t.Errorf("%s rows after restore --clean", got)
	}
}

// TestRestoreRefusals: what must change nothing.
func TestRestoreRefusals(t *testing.T) {
	dir, cfg, _ := restoreFixture(t)
	other := filepath.Join(t.TempDir(), "other.txt")
	if code, _, errOut := mbackup(t, "keygen", "-o", other); code != 0 {
		t.Fatal(errOut)
	}
	fresh := testenv.StartPostgres(t)
	t.Setenv("PGPASSWORD", fresh.Password)
	flags := []string{"--yes", "--pg-host", fresh.Host, "--pg-port", strconv.Itoa(fresh.Port), "--pg-sslmode", "disable", "--only", "postgres"}
	id := filepath.Join(dir, "id.txt")
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"unknown snapshot", "", append([]string{"-i", id, "20200101T000000Z-abcdef"}, flags...), exitError, "no snapshot 20200101T000000Z-abcdef in the store"},
		{"not an id", "", append([]string{"-i", id, "last-tuesday"}, flags...), exitUsage, `"last-tuesday" is not a snapshot id`},
		{"no identity with --yes", "", flags, exitUsage, "--yes needs -i IDENTITY"},
		{"wrong identity", "", append([]string{"-i", other}, flags...), exitError, "not one this snapshot was encrypted to"},
		{"unknown artifact", "", append(append([]string{"-i", id}, flags...), "--only", "postgres/nope"), exitError, `nothing named "postgres/nope" (it has postgres/globals, postgres/rst_app`},
		{"stdin closes", "\n" + id + "\n", []string{"--only", "postgres"}, exitError, "no answer on standard input"},
		{"not confirmed", strings.Repeat("\n", 4) + "n\nno\n", []string{"-i", id, "--only", "postgres", "--pg-host", fresh.Host, "--pg-port", strconv.Itoa(fresh.Port)}, exitError, "not confirmed, nothing done"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := mbackupIn(t, tc.stdin, append([]string{"--config", cfg, "restore"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exited %d, want %d and %q:\n%s\n%s", code, tc.code, tc.want, out, errOut)
			}
			t.Log(strings.TrimSpace(errOut))
			if got := fresh.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'rst_app'"); got != "0" {
				t.Error("rst_app was created")
			}
			if got := fresh.Query(t, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'rst_owner'"); got != "0" {
				t.Error("the role rst_owner was created")
			}
		})
	}
}

// TestVerify: a good snapshot passes with and without the key and through
// a drill; a flipped byte, a truncated artifact and a wrong identity fail,
// naming the artifact.
func TestVerify(t *testing.T) {
	dir, cfg, m := restoreFixture(t)
	id := filepath.Join(dir, "id.txt")
	scratch := testenv.StartPostgres(t)
	into := []string{"--restore-into", fmt.Sprintf("postgres://%s:%s@%s:%d/?sslmode=disable", scratch.User, scratch.Password, scratch.Host, scratch.Port),
		"--restore-into", fmt.Sprintf("mysql://%s@%s:%d", maria.User, maria.Host, maria.Port)}
	t.Setenv("MYSQL_PWD", maria.Password)
	code, out, errOut := mbackup(t, append([]string{"--config", cfg, "verify", "-i", id, "--staging", t.TempDir()}, into...)...)
	if code != exitOK || !strings.Contains(out, "decrypted size and sha256: ok") || !strings.Contains(out, "row counts of 2 tables equal to the backup's: ok") {
		t.Fatalf("verify with a drill exited %d:\n%s\n%s", code, out, errOut)
	}
	t.Log(out)
	if strings.Contains(out+errOut, scratch.Password) {
		t.Error("verify printed the scratch server's password")
	}

	var key string
	for _, a := range m.Artifacts {
		if a.Name == "rst_app" {
			key = filepath.Join(dir, "store", a.Key)
		}
	}
	good, _ := os.ReadFile(key)
	other := filepath.Join(t.TempDir(), "other.txt")
	mbackup(t, "keygen", "-o", other)
	for _, tc := range []struct {
		name string
		data []byte
		args []string
		want string
	}{
		{"flipped byte", flip(good), nil, "stored sha256 differs from the manifest's"},
		{"truncated", good[:len(good)-1], nil, "stored size"},
		{"wrong identity", good, []string{"-i", other}, "identity did not match any of the recipients"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(key, tc.data, 0o600)
			defer os.WriteFile(key, good, 0o600)
			code, out, errOut := mbackup(t, append([]string{"--config", cfg, "verify", "--all"}, tc.args...)...)
			if code != exitError || !strings.Contains(out, "FAILED") || !strings.Contains(out, "postgres/rst_app.dump.zst.age") || !strings.Contains(out, tc.want) {
				t.Fatalf("verify exited %d, want %q:\n%s\n%s", code, tc.want, out, errOut)
			}
			t.Log(out)
		})
	}
}

func flip(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)/2] ^= 0x80
	return c
}
