package restore

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"mbackup/internal/engine"
	"mbackup/internal/redisdump"
	"mbackup/internal/snapshot"
	"mbackup/internal/stream"
	"mbackup/internal/testenv"
)

// forge rewrites the artifact named name in the local store under dir the
// way a forger who can write to the store would: decrypt it (the test
// holds the identity; a forger writes any plaintext), edit it, encrypt it
// to the snapshot's public recipient and update the manifest's sizes and
// sha256. It returns a function that puts the original back.
func forge(t *testing.T, dir string, m *snapshot.Manifest, id *age.X25519Identity, name string, edit func(string) string) func() {
	t.Helper()
	i := index(t, m, name)
	a := m.Artifacts[i]
	path := filepath.Join(dir, a.Key)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := stream.Unseal(bytes.NewReader(orig), id)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	var sealed bytes.Buffer
	w, err := stream.Seal(&sealed, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, edit(string(plain))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, sealed.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Artifacts[i].Sums = w.Sums()
	return func() {
		os.WriteFile(path, orig, 0o600)
		m.Artifacts[i] = a
	}
}

func index(t *testing.T, m *snapshot.Manifest, name string) int {
	t.Helper()
	for i, a := range m.Artifacts {
		if a.Component+"/"+a.Name == name {
			return i
		}
	}
	t.Fatalf("no artifact %s", name)
	return -1
}

// insertBefore puts line on its own line before the first mark in s.
func insertBefore(t *testing.T, mark, line string) func(string) string {
	return func(s string) string {
		i := strings.Index(s, mark)
		if i < 0 {
			t.Fatalf("no %q in the artifact", mark)
		}
		return s[:i] + "\n" + line + s[i:]
	}
}

// nothingRestored checks that the targets hold nothing of the snapshot.
func nothingRestored(t *testing.T, pg *testenv.Postgres, my *testenv.MariaDB, redisDir, marker string) {
	t.Helper()
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a command from an artifact ran: the marker exists")
	}
	if got := pg.Query(t, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname IN ('mastodon', 'readers')") +
		pg.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname IN ('mastodon_production', 'side')") +
		my.Query(t, "", "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'writefreely'"); got != "000" {
		t.Fatalf("roles, databases and MySQL databases restored: %s", got)
	}
	if _, err := os.Stat(filepath.Join(redisDir, "dump.rdb")); err == nil {
		t.Fatal("the RDB file was written")
	}
}

// TestRefusedBeforeTheFirstStep: a forged artifact carrying a client
// meta-command, a changed hash (same size) on the last artifact and a
// target that is not empty are each refused before anything is written,
// naming the artifact; no command runs.
func TestRefusedBeforeTheFirstStep(t *testing.T) {
	src := seed(t)
	store, dir, id, m := localSnapshot(t, src)
	pg, my := testenv.StartPostgres(t), testenv.StartMariaDB(t)
	redisDir := t.TempDir()
	targets := Targets{pgConfig(pg), mysqlConfig(my), &redisdump.Target{Dir: redisDir}}
	steps, err := Plan(m, nil, targets, false)
	if err != nil {
		t.Fatal(err)
	}
	if last := steps[len(steps)-1].Name(); last != "redis/main" {
		t.Fatalf("the last step is %s", last)
	}
	marker := filepath.Join(t.TempDir(), "pwned")
	opt := Options{Store: store, Identities: []age.Identity{id}, StagingDir: t.TempDir()}
	run := func() error {
		steps, err := Plan(m, nil, targets, false) // the forged sums
		if err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		opt.Progress = &log
		rep, err := Run(context.Background(), steps, targets, opt)
		if len(rep.Steps) != 0 {
			t.Errorf("%d steps ran", len(rep.Steps))
		}
		t.Logf("progress:\n%s", log.String())
		return err
	}

	for _, c := range []struct{ artifact, mark, line, want string }{
		{"postgres/globals", "\n\\unrestrict ", `\! touch ` + marker, "psql meta-command"},
		{"postgres/globals", "\n\\unrestrict ", `SELECT 1; \! touch ` + marker, "psql meta-command"},
		{"postgres/globals", "\n\\unrestrict ", `\o |touch ` + marker, "psql meta-command"},
		{"mysql/writefreely", "\n-- Dump completed", `\! touch ` + marker, "mysql client command"},
		{"mysql/writefreely", "\n-- Dump completed", `SELECT 1; \! touch ` + marker, "mysql client command"},
		{"mysql/writefreely", "\n-- Dump completed", `system touch ` + marker, `mysql client command "system"`},
	} {
		t.Run(c.artifact+" "+c.line[:8], func(t *testing.T) {
			defer forge(t, dir, m, id, c.artifact, insertBefore(t, c.mark, c.line))()
			err := run()
			key := m.Artifacts[index(t, m, c.artifact)].Key
			for _, want := range []string{"restore: " + key + ": the SQL holds line ", c.want, "refused, as a forged or altered artifact", "nothing was restored"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("Run: %v; want %q", err, want)
				}
			}
			t.Log(err)
			nothingRestored(t, pg, my, redisDir, marker)
		})
	}

	// The drill (verify --restore-into) goes through the same preflight.
	t.Run("drill", func(t *testing.T) {
		defer forge(t, dir, m, id, "mysql/writefreely", insertBefore(t, "\n-- Dump completed", `\! touch `+marker))()
		_, err := Drill(context.Background(), m, []engine.Scratch{pgConfig(pg), mysqlConfig(my)}, opt)
		for _, want := range []string{"mysql/writefreely.sql.zst.age: the SQL holds line ", "nothing was restored"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Drill: %v; want %q", err, want)
			}
		}
		t.Log(err)
		nothingRestored(t, pg, my, redisDir, marker)
		if got := pg.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'mbackup_drill_%'") +
			my.Query(t, "", "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'mbackup_drill_%'"); got != "00" {
			t.Fatalf("scratch databases: %s", got)
		}
	})

	t.Run("changed hash on the last artifact", func(t *testing.T) {
		path := filepath.Join(dir, m.Artifacts[index(t, m, "redis/main")].Key)
		good, _ := os.ReadFile(path)
		defer os.WriteFile(path, good, 0o600)
		bad := bytes.Clone(good)
		bad[len(bad)/2] ^= 0x40
		os.WriteFile(path, bad, 0o600)
		err := run()
		for _, want := range []string{"redis/main.rdb.zst.age: stored sha256 differs from the manifest's", "nothing was restored"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Run: %v; want %q", err, want)
			}
		}
		t.Log(err)
		nothingRestored(t, pg, my, redisDir, marker)
	})

	t.Run("target not empty", func(t *testing.T) {
		my.Exec(t, "", "CREATE DATABASE writefreely")
		my.Exec(t, "writefreely", "CREATE TABLE posts (id int)")
		defer my.Exec(t, "", "DROP DATABASE writefreely")
		os.WriteFile(filepath.Join(redisDir, "appendonly.aof"), nil, 0o600)
		defer os.Remove(filepath.Join(redisDir, "appendonly.aof"))
		err := run()
		for _, want := range []string{"restore: mysql/writefreely: mysqldump: check database writefreely: the database exists and is not empty",
			"restore: redis/main: redisdump: check " + redisDir + ": the directory holds appendonly files", "nothing was restored"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Run: %v; want %q", err, want)
			}
		}
		t.Log(err)
		if got := pg.Query(t, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname IN ('mastodon', 'readers')"); got != "0" {
			t.Fatal("the globals were restored")
		}
	})

	// What only looks like a command, in a string or a dollar-quoted body,
	// is data: the globals restore.
	t.Run("look-alikes restore", func(t *testing.T) {
		defer forge(t, dir, m, id, "postgres/globals", insertBefore(t, "\n\\unrestrict ",
			`COMMENT ON ROLE mastodon IS 'not \! a command';`+"\n"+`DO $x$ BEGIN PERFORM '\! touch `+marker+`'; END $x$;`))()
		steps, err := Plan(m, []string{"postgres/globals"}, targets, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Run(context.Background(), steps, targets, Options{Store: store, Identities: []age.Identity{id}}); err != nil {
			t.Fatal(err)
		}
		if got := pg.Query(t, "postgres", "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = 'mastodon'"); got != `not \! a command` {
			t.Errorf("comment %q", got)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("the marker exists")
		}
	})
}
