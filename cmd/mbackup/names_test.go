package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"mbackup/internal/artifact"
	"mbackup/internal/snapshot"
	"mbackup/internal/testenv"
)

// hostileNames are database names a role with CREATEDB can make, each
// aimed at another artifact or outside the snapshot when a name is joined
// into a key as a path. older is the id of a snapshot already stored.
func hostileNames(older, target string) []string {
	return []string{
		"zz/../" + target,
		"../../" + older + "/postgres/" + target,
		"../../../escape",
		"/etc/passwd", "etc/passwd",
		`a\b`, ".hidden", "..", "100%", "with space",
		strings.Repeat("é", 31) + "x", // 63 bytes, PostgreSQL's longest name
	}
}

// namesConfig writes a config backing up every database of a PostgreSQL
// and a MariaDB of their own (and no Redis) into a local store.
func namesConfig(t *testing.T, p *testenv.Postgres, m *testenv.MariaDB) (dir, cfg string) {
	dir, cfg = setup(t, "")
	text, _ := os.ReadFile(cfg)
	for _, r := range [][2]string{
		{fmt.Sprintf("port: %d\n  user: %s", pg.Port, pg.User), fmt.Sprintf("port: %d\n  user: %s", p.Port, p.User)},
		{fmt.Sprintf("port: %d\n  user: %s", maria.Port, maria.User), fmt.Sprintf("port: %d\n  user: %s", m.Port, m.User)},
		{"redis:\n  - name: main\n    url: redis://" + redis.Addr + "/0\n    password_file: redis.pass\n", ""},
	} {
		if !bytes.Contains(text, []byte(r[0])) {
			t.Fatalf("the config holds no %q", r[0])
		}
		text = bytes.Replace(text, []byte(r[0]), []byte(r[1]), 1)
	}
	os.WriteFile(cfg, text, 0o600)
	os.WriteFile(filepath.Join(dir, "pg.pass"), []byte(p.Password+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "maria.pass"), []byte(m.Password+"\n"), 0o600)
	return dir, cfg
}

// TestHostileDatabaseNames: beside mastodon_production (3000 rows) and
// MariaDB's blog (2 rows), databases whose names would, joined as paths,
// overwrite the production artifact, an older snapshot's artifact, or
// write outside snapshots/. A backup commits a complete snapshot in which
// every artifact is under its own directory and distinct, named after its
// database; the production artifact decrypts to the production dump; the
// older snapshot still verifies.
func TestHostileDatabaseNames(t *testing.T) {
	p, m := testenv.StartPostgres(t), testenv.StartMariaDB(t)
	p.Exec(t, "postgres", "CREATE DATABASE mastodon_production")
	p.Exec(t, "mastodon_production", "CREATE TABLE toots AS SELECT g AS id, 'production toot' AS body FROM generate_series(1, 3000) g")
	m.Exec(t, "", "CREATE DATABASE blog")
	m.Exec(t, "blog", "CREATE TABLE posts (id int PRIMARY KEY); INSERT INTO posts VALUES (1), (2)")
	dir, cfg := namesConfig(t, p, m)
	if code, out, errOut := mbackup(t, "--config", cfg, "backup"); code != exitOK {
		t.Fatalf("first backup exited %d:\n%s%s", code, out, errOut)
	}
	older := onlySnapshot(t, cfg)

	pgNames := hostileNames(older.ID, "mastodon_production")
	for _, n := range pgNames {
		p.Exec(t, "postgres", `CREATE DATABASE "`+n+`"`)
	}
	p.Exec(t, pgNames[0], "CREATE TABLE evil AS SELECT 'attacker' AS body")
	myNames := []string{"zz/../blog", "../../" + older.ID + "/mysql/blog", "../../../escape", "/etc/passwd", `a\b`, ".hidden"}
	for _, n := range myNames {
		m.Exec(t, "", "CREATE DATABASE `"+n+"`")
	}
	code, out, errOut := mbackup(t, "--config", cfg, "backup")
	if code != exitOK {
		t.Fatalf("backup exited %d:\n%s%s", code, out, errOut)
	}
	var entries []listEntry
	_, listed, _ := mbackup(t, "--config", cfg, "list", "--json")
	if err := json.Unmarshal([]byte(listed), &entries); err != nil || len(entries) != 2 || entries[0].Status != snapshot.StatusComplete {
		t.Fatalf("list --json: %v\n%s", err, listed)
	}
	snap := entries[0].Manifest
	want := map[string]bool{"postgres/globals": true, "postgres/postgres": true, "postgres/mastodon_production": true, "mysql/blog": true}
	for _, n := range pgNames {
		want["postgres/"+n] = true
	}
	for _, n := range myNames {
		want["mysql/"+n] = true
	}
	keys := map[string]string{}
	var production snapshot.Artifact
	for _, a := range snap.Artifacts {
		what := a.Component + "/" + a.Name
		if !want[what] {
			t.Errorf("unexpected artifact %s", what)
		}
		delete(want, what)
		if !strings.HasPrefix(a.Key, "snapshots/"+snap.ID+"/"+a.Component+"/") || strings.Count(a.Key, "/") != 3 {
			t.Errorf("%s: key %s is not in its snapshot's directory", what, a.Key)
		}
		if other, dup := keys[a.Key]; dup {
			t.Errorf("%s and %s share the key %s", what, other, a.Key)
		}
		keys[a.Key] = what
		// An encoded name holds no dot: the first one starts the extension.
		encoded, _, _ := strings.Cut(path.Base(a.Key), ".")
		if name, err := artifact.DecodeName(encoded); err != nil || name != a.Name {
			t.Errorf("key %s decodes to %q, %v; want %q", a.Key, name, err, a.Name)
		}
		switch what {
		case "postgres/mastodon_production":
			production = a
		case "mysql/blog":
			if len(a.Tables) != 1 || a.Tables[0].Rows != 2 {
				t.Errorf("blog artifact's tables: %+v", a.Tables)
			}
		}
	}
	for w := range want {
		t.Errorf("no artifact for %s", w)
	}
	t.Logf("%d artifacts, %d distinct keys; production key %s", len(snap.Artifacts), len(keys), production.Key)
	if len(production.Tables) != 1 || production.Tables[0].Rows != 3000 {
		t.Errorf("production artifact's tables: %+v", production.Tables)
	}
	plain := filepath.Join(t.TempDir(), "production.dump")
	sh := `age -d -i "$1" "$2" | zstd -d -q -o "$3"`
	if b, err := exec.Command("sh", "-c", sh, "sh", filepath.Join(dir, "id.txt"), filepath.Join(dir, "store", production.Key), plain).CombinedOutput(); err != nil {
		t.Fatalf("decrypting %s: %v\n%s", production.Key, err, b)
	}
	toc, err := exec.Command(filepath.Join(p.BinDir, "pg_restore"), "-l", plain).CombinedOutput()
	if err != nil || !strings.Contains(string(toc), "TABLE DATA public toots") || strings.Contains(string(toc), "evil") {
		t.Errorf("the production artifact's contents: %v\n%s", err, toc)
	}
	if code, out, _ := mbackup(t, "--config", cfg, "verify", "--all"); code != exitOK {
		t.Errorf("verify --all exited %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "escape.dump.zst.age")); err == nil {
		t.Error("an artifact was written outside snapshots/")
	}
	restoreHostile(t, dir, cfg, snap.ID, pgNames, myNames)
}

// restoreHostile restores snapshot id into fresh servers and finds every
// database under its own name, production's rows in production.
func restoreHostile(t *testing.T, dir, cfg, id string, pgNames, myNames []string) {
	fp, fm := testenv.StartPostgres(t), testenv.StartMariaDB(t)
	t.Setenv("PGPASSWORD", fp.Password)
	os.WriteFile(filepath.Join(dir, "fresh-maria.pass"), []byte(fm.Password+"\n"), 0o600)
	code, out, errOut := mbackup(t, "--config", cfg, "restore", "--yes", "-i", filepath.Join(dir, "id.txt"),
		"--pg-host", fp.Host, "--pg-port", fmt.Sprint(fp.Port), "--pg-user", fp.User, "--pg-sslmode", "disable",
		"--mysql-host", fm.Host, "--mysql-port", fmt.Sprint(fm.Port), "--mysql-user", fm.User,
		"--mysql-password-file", filepath.Join(dir, "fresh-maria.pass"), "--staging", t.TempDir(), id)
	if code != exitOK {
		t.Fatalf("restore exited %d:\n%s%s", code, out, errOut)
	}
	dbs := "\n" + fp.Query(t, "postgres", "SELECT datname FROM pg_database ORDER BY 1") + "\n"
	for _, n := range append(pgNames, "mastodon_production") {
		if !strings.Contains(dbs, "\n"+n+"\n") {
			t.Errorf("PostgreSQL database %q not restored; the server holds:%s", n, dbs)
		}
	}
	if got := fp.Query(t, "mastodon_production", "SELECT count(*) FROM toots"); got != "3000" {
		t.Errorf("mastodon_production.toots: %s rows after restore", got)
	}
	if got := fp.Query(t, pgNames[0], "SELECT body FROM evil"); got != "attacker" {
		t.Errorf("%s.evil after restore: %q", pgNames[0], got)
	}
	for _, n := range append(myNames, "blog") {
		// Compared in hex: the client's batch output escapes backslashes.
		q := fmt.Sprintf("SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 0x%x", n)
		if got := fm.Query(t, "", q); got != "1" {
			t.Errorf("MariaDB database %q not restored; the server holds:\n%s", n, fm.Query(t, "", "SHOW DATABASES"))
		}
	}
	if got := fm.Query(t, "blog", "SELECT count(*) FROM posts"); got != "2" {
		t.Errorf("blog.posts: %s rows after restore", got)
	}
}
