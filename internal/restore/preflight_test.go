package restore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"mbackup/internal/engine"
	"mbackup/internal/mysqldump"
	"mbackup/internal/pgdump"
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
		for _, want := range []string{"restore: mysql/writefreely: mysqldump: check database writefreely on MySQL ", ": the database exists and is not empty",
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

// state is what a test looks at on the targets to see that a refused
// restore changed nothing.
func state(t *testing.T, pg *testenv.Postgres, my *testenv.MariaDB, dirs ...string) string {
	t.Helper()
	s := pg.Query(t, "postgres", "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%'") + " " +
		pg.Query(t, "postgres", "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database") + " " +
		my.Query(t, "", "SELECT GROUP_CONCAT(SCHEMA_NAME ORDER BY SCHEMA_NAME) FROM information_schema.SCHEMATA")
	for _, d := range dirs {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			fi, _ := e.Info()
			s += fmt.Sprintf(" %s:%d:%d", e.Name(), fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return s
}

// TestPreflightRefusals: each target that cannot take its step is refused
// before the first step, naming the target and the fix; the targets have
// no new role, database or file afterwards (the globals, first in the
// plan, are not applied either).
func TestPreflightRefusals(t *testing.T) {
	src := seed(t)
	src.pg.Exec(t, "mastodon_production", "CREATE EXTENSION pgcrypto")
	store, _, id, m := localSnapshot(t, src)
	if a := artifactNamed(t, m, "postgres/mastodon_production"); strings.Join(a.Extensions, ",") != "pgcrypto,plpgsql" || a.Owner != "mastodon" {
		t.Fatalf("the manifest records the extensions %q and the owner %q", a.Extensions, a.Owner)
	}
	pg, my, rd := testenv.StartPostgres(t), testenv.StartMariaDB(t), testenv.StartRedis(t)
	redisDir, staging := t.TempDir(), t.TempDir()
	pgVersion := pg.Query(t, "postgres", "SHOW server_version")
	where := fmt.Sprintf("PostgreSQL %s:%d as %s", pg.Host, pg.Port, pg.User)
	targets := Targets{pgConfig(pg), mysqlConfig(my), &redisdump.Target{Dir: redisDir}}

	for _, c := range []struct {
		name  string
		setup func(m *snapshot.Manifest) (undo func())
		t     Targets
		want  []string
		only  []string
	}{
		{"owner missing and no globals", func(*snapshot.Manifest) func() { return func() {} }, nil,
			[]string{"restore: postgres/mastodon_production: pgdump: check database mastodon_production on " + where +
				`: role "mastodon", which owned the dumped database, does not exist on this server and the globals are not restored before it`},
			[]string{"postgres/side", "postgres/mastodon_production"}},
		{"database exists and is not empty", func(*snapshot.Manifest) func() {
			pg.Exec(t, "postgres", "CREATE DATABASE side")
			pg.Exec(t, "side", "CREATE TABLE t (n int)")
			return func() { pg.Exec(t, "postgres", "DROP DATABASE side") }
		}, nil, []string{"restore: postgres/side: pgdump: check database side on " + where +
			": the database exists and is not empty (it holds relation public.t): restore into a new database, or drop this one, or restore with the clean option"}, nil},
		{"server older than the dump's", func(m *snapshot.Manifest) func() {
			return lie(m, "postgres/mastodon_production", func(a *snapshot.Artifact) { a.ServerVersion = "99.0" })
		}, nil, []string{"restore: postgres/mastodon_production: pgdump: check database mastodon_production on " + where +
			": the server is PostgreSQL " + pgVersion + " and the dump was made from 99.0", "restore into a PostgreSQL 99 or newer server"}, nil},
		{"pg_restore older than the pg_dump", func(m *snapshot.Manifest) func() {
			return lie(m, "postgres/side", func(a *snapshot.Artifact) { a.Version = "pg_dump (PostgreSQL) 99.1" })
		}, nil, []string{"restore: postgres/side: pgdump: check database side on " + where + ": ",
			"pg_restore is pg_restore (PostgreSQL) ", "and the dump was made by pg_dump (PostgreSQL) 99.1: an older pg_restore cannot read the archive; install postgresql-client-99"}, nil},
		{"missing extension", func(m *snapshot.Manifest) func() {
			return lie(m, "postgres/mastodon_production", func(a *snapshot.Artifact) { a.Extensions = append(a.Extensions, "no_such_ext") })
		}, nil, []string{"restore: postgres/mastodon_production: pgdump: check database mastodon_production on " + where +
			`: the dump creates extensions this server does not have (pg_available_extensions): "no_such_ext"; install them`}, nil},
		{"PostgreSQL not reachable", func(*snapshot.Manifest) func() { return func() {} },
			Targets{&pgdump.Config{Host: "127.0.0.1", Port: 1, User: "postgres", SSLMode: "disable"}, mysqlConfig(my), &redisdump.Target{Dir: redisDir}},
			[]string{"restore: postgres/globals: pgdump: check PostgreSQL 127.0.0.1:1 as postgres: connect to postgres: ",
				"check the server's address, port, user and password"}, nil},
		{"MySQL not reachable", func(*snapshot.Manifest) func() { return func() {} },
			Targets{pgConfig(pg), &mysqldump.Config{Host: "127.0.0.1", Port: 1, User: "root"}, &redisdump.Target{Dir: redisDir}},
			[]string{"restore: mysql/writefreely: mysqldump: check database writefreely on MySQL 127.0.0.1:1 as root: ",
				"check the server's address, port, user and password"}, nil},
		{"Redis running on the directory", func(*snapshot.Manifest) func() { return func() {} },
			Targets{pgConfig(pg), mysqlConfig(my), &redisdump.Target{Dir: rd.Dir}},
			[]string{"restore: redis/main: redisdump: check " + rd.Dir + ": redis-server (pid ", "is running in this directory: stop it first"}, nil},
		{"Redis directory missing", func(*snapshot.Manifest) func() { return func() {} },
			Targets{pgConfig(pg), mysqlConfig(my), &redisdump.Target{Dir: filepath.Join(redisDir, "nope")}},
			[]string{"restore: redis/main: redisdump: check " + filepath.Join(redisDir, "nope") + ": ", "no such file or directory: give the data directory"}, nil},
		{"too little staging space", func(m *snapshot.Manifest) func() {
			return lie(m, "postgres/side", func(a *snapshot.Artifact) { a.PlainBytes = 1 << 50 })
		}, nil, []string{"restore: staging: the staging directory " + staging + " has ", " free; staging postgres/side needs 1.0 PiB (its plaintext, 1.0 PiB, and 64.0 MiB to spare): " +
			"free space there, or give a directory on a larger file system with --staging"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer c.setup(m)()
			tg := c.t
			if tg == nil {
				tg = targets
			}
			before := state(t, pg, my, redisDir, rd.Dir, staging)
			steps, err := Plan(m, c.only, tg, false)
			if err != nil {
				t.Fatal(err)
			}
			if steps[0].Name() != "postgres/globals" && c.only == nil {
				t.Fatalf("the first step is %s", steps[0].Name())
			}
			rep, err := Run(context.Background(), steps, tg, Options{Store: store, Identities: []age.Identity{id}, StagingDir: staging})
			for _, want := range append(c.want, "nothing was restored") {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("Run: %v\nwant %q", err, want)
				}
			}
			t.Log(err)
			if len(rep.Steps) != 0 {
				t.Errorf("%d steps ran", len(rep.Steps))
			}
			if after := state(t, pg, my, redisDir, rd.Dir, staging); after != before {
				t.Errorf("the targets changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// lie changes what the manifest says of the artifact named name and
// returns what puts it back.
func lie(m *snapshot.Manifest, name string, change func(*snapshot.Artifact)) func() {
	for i, a := range m.Artifacts {
		if a.Component+"/"+a.Name == name {
			orig := a
			orig.Extensions = slices.Clone(a.Extensions)
			change(&m.Artifacts[i])
			return func() { m.Artifacts[i] = orig }
		}
	}
	panic("no artifact " + name)
}

// TestPreflightNotes: a dry run says which roles of the globals exist
// already and what an older manifest did not let it check, and writes
// nothing.
func TestPreflightNotes(t *testing.T) {
	src := seed(t)
	store, _, id, m := localSnapshot(t, src)
	pg := testenv.StartPostgres(t)
	pg.Exec(t, "postgres", "CREATE ROLE readers")
	where := fmt.Sprintf("PostgreSQL %s:%d as %s", pg.Host, pg.Port, pg.User)
	defer lie(m, "postgres/side", func(a *snapshot.Artifact) { a.Extensions = nil })()
	defer lie(m, "postgres/mastodon_production", func(a *snapshot.Artifact) { a.ServerVersion, a.Version = "", "pg_dump\x1b[2J" })()
	targets := Targets{pgConfig(pg)}
	steps, err := Plan(m, []string{"postgres"}, targets, false)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), steps, targets, Options{Store: store, Identities: []age.Identity{id}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"postgres/globals: roles that exist on " + where + " already, which get the dump's attributes, passwords and memberships: readers; " +
			"left as it is: postgres (the role restoring); created: mastodon",
		`postgres/mastodon_production: the manifest's server version of the dump, "", is not one: whether this server is new enough was not checked`,
		`postgres/mastodon_production: the manifest's pg_dump version, "pg_dump\x1b[2J", is not one: whether the local pg_restore can read the dump was not checked`,
		"postgres/side: this snapshot's manifest does not list the dump's extensions (it was made by an older mbackup): " +
			"whether the target server has them was not checked; a missing one fails the restore at its turn",
	}
	if !slices.Equal(rep.Notes, want) {
		t.Errorf("notes:\n%s\nwant\n%s", strings.Join(rep.Notes, "\n"), strings.Join(want, "\n"))
	}
	if got := pg.Query(t, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'mastodon'") +
		pg.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname IN ('mastodon_production', 'side')"); got != "00" {
		t.Errorf("the dry run wrote: %s", got)
	}
}

// TestProgress restores everything with OnProgress set: every step
// reports its check, fetch and apply phases in that order, one report at
// a time, throttled, each ending at its total (the stored bytes, the
// entries of pg_restore's table of contents, the bytes fed or copied);
// the report ends with what is left to do.
func TestProgress(t *testing.T) {
	src := seed(t)
	store, _, id, m := localSnapshot(t, src)
	pg, my, rd := testenv.StartPostgres(t), testenv.StartMariaDB(t), testenv.StartRedis(t)
	rd.Stop(t)
	targets := Targets{pgConfig(pg), mysqlConfig(my), &redisdump.Target{Dir: rd.Dir}}
	steps, err := Plan(m, nil, targets, false)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []Progress
	on := func(p Progress) {
		if !mu.TryLock() {
			t.Error("OnProgress called concurrently")
			return
		}
		defer mu.Unlock()
		got = append(got, p)
	}
	rep, err := Run(context.Background(), steps, targets, Options{Store: store, Identities: []age.Identity{id}, StagingDir: t.TempDir(), OnProgress: on})
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		step  string
		phase Phase
	}
	last, count := map[key]Progress{}, map[key]int{}
	var order []key
	for _, p := range got {
		k := key{p.Step, p.Phase}
		if _, ok := last[k]; !ok {
			order = append(order, k)
		}
		if prev, ok := last[k]; ok && (p.Done < prev.Done || p.Elapsed < prev.Elapsed) {
			t.Errorf("%v went back: %+v after %+v", k, p, prev)
		}
		last[k], count[k] = p, count[k]+1
	}
	for _, st := range steps {
		a := st.Artifact
		for _, phase := range []Phase{PhaseCheck, PhaseFetch, PhaseApply} {
			k := key{st.Name(), phase}
			p, ok := last[k]
			switch {
			case !ok:
				t.Errorf("no %s progress of %s", phase, st.Name())
				continue
			case p.Done != p.Total || p.Total <= 0:
				t.Errorf("%v ended at %+v", k, p)
			case phase != PhaseApply && (p.Unit != engine.Bytes || p.Total != a.StoredBytes):
				t.Errorf("%v ended at %+v; want %d bytes", k, p, a.StoredBytes)
			case phase == PhaseApply && a.Component != "postgres" && (p.Unit != engine.Bytes || p.Total != a.PlainBytes):
				t.Errorf("%v ended at %+v; want %d bytes", k, p, a.PlainBytes)
			case phase == PhaseApply && a.Name != "globals" && a.Component == "postgres" && p.Unit != engine.Items:
				t.Errorf("%v ended at %+v; want items", k, p)
			}
			if max := int(p.Elapsed/ProgressEvery) + 3; count[k] > max {
				t.Errorf("%v: %d reports in %s: not throttled", k, count[k], p.Elapsed)
			}
		}
	}
	// Every check before the first fetch, then fetch and apply step by step.
	var want []key
	for _, phase := range []Phase{PhaseCheck, PhaseFetch} {
		for _, st := range steps {
			want = append(want, key{st.Name(), phase})
			if phase == PhaseFetch {
				want = append(want, key{st.Name(), PhaseApply})
			}
		}
	}
	if !slices.Equal(order, want) {
		t.Errorf("phases in the order %v; want %v", order, want)
	}
	t.Logf("%d reports; postgres/mastodon_production apply: %+v", len(got), last[key{"postgres/mastodon_production", PhaseApply}])
	notes := ""
	for _, s := range rep.Steps {
		notes += strings.Join(s.Notes, "\n") + "\n"
	}
	if !strings.Contains(notes, "redis/main: the RDB holds Sidekiq's queues") {
		t.Errorf("notes:\n%s", notes)
	}
}
