package pgdump

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"mbackup/internal/dump"
	"mbackup/internal/testenv"
)

var pg *testenv.Postgres

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pgdump-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p, stop, err := testenv.LaunchPostgres(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	pg = p
	code := m.Run()
	stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

func superuser() Config {
	return Config{Host: pg.Host, Port: pg.Port, User: pg.User, Password: pg.Password, SSLMode: "disable"}
}

func open(t *testing.T, cfg Config) *Dumper {
	t.Helper()
	d, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// restore loads a custom-format dump into a new database with pg_restore.
func restore(t *testing.T, dumpBytes []byte, db string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "x.dump")
	if err := os.WriteFile(f, dumpBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(f), 0o755)
	pg.Exec(t, "postgres", "CREATE DATABASE "+db)
	cmd := exec.Command(filepath.Join(pg.BinDir, "pg_restore"), "-d", db, "--exit-on-error", f)
	cmd.Env = append(os.Environ(), pg.Env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v: %s", err, out)
	}
}

func TestDumpRestoresWithTheCountedRows(t *testing.T) {
	pg.Exec(t, "postgres", "CREATE DATABASE app1")
	pg.Exec(t, "app1", `CREATE SCHEMA side;
		CREATE TABLE accounts (id bigserial PRIMARY KEY, username text NOT NULL);
		INSERT INTO accounts (username) SELECT 'user' || g FROM generate_series(1, 1234) g;
		CREATE TABLE side."Odd Name" (v int); INSERT INTO side."Odd Name" VALUES (1), (2);
		CREATE TABLE events (at date, v int) PARTITION BY RANGE (at);
		CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
		INSERT INTO events SELECT '2026-05-01', g FROM generate_series(1, 77) g;
		SELECT lo_from_bytea(0, 'large object');`)
	d := open(t, superuser())
	dbs, err := d.Databases(context.Background())
	if err != nil || !contains(dbs, "app1") || !contains(dbs, "postgres") || contains(dbs, "template1") {
		t.Fatalf("Databases = %q, %v", dbs, err)
	}
	var out bytes.Buffer
	info, err := d.Dump(context.Background(), "app1", &out)
	if err != nil {
		t.Fatal(err)
	}
	want := "public.accounts=1234 public.events_2026=77 side.Odd Name=2"
	if got := counts(info.Tables); got != want {
		t.Errorf("counted %q, want %q", got, want)
	}
	if !strings.HasPrefix(out.String(), "PGDMP") {
		t.Fatalf("not a custom-format dump: %q", out.String()[:min(20, out.Len())])
	}
	if strings.Contains(info.Command, pg.Password) || !strings.Contains(info.Command, "-Fc -Z0") {
		t.Errorf("Command = %q", info.Command)
	}
	restore(t, out.Bytes(), "app1_restored")
	got := pg.Query(t, "app1_restored", `SELECT (SELECT count(*) FROM accounts) || ' ' || (SELECT count(*) FROM events) || ' ' || (SELECT count(*) FROM side."Odd Name") || ' ' || (SELECT count(*) FROM pg_largeobject_metadata)`)
	if got != "1234 77 2 1" {
		t.Errorf("restored counts %q", got)
	}
}

func counts(ts []dump.TableCount) string {
	var s []string
	for _, t := range ts {
		s = append(s, fmt.Sprintf("%s.%s=%d", t.Schema, t.Table, t.Rows))
	}
	return strings.Join(s, " ")
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// slowWriter makes pg_dump's output slow so that writes to the database
// happen while the dump runs.
type slowWriter struct{ buf bytes.Buffer }

func (s *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(5 * time.Millisecond)
	return s.buf.Write(p)
}

// TestCountsAreTheDumpsSnapshot inserts rows while the dump runs: the
// restored table must hold exactly the counted rows, fewer than the table
// holds after the dump.
func TestCountsAreTheDumpsSnapshot(t *testing.T) {
	pg.Exec(t, "postgres", "CREATE DATABASE busy")
	pg.Exec(t, "busy", `CREATE TABLE statuses (id bigserial PRIMARY KEY, text text);
		INSERT INTO statuses (text) SELECT repeat('toot ', 50) FROM generate_series(1, 20000);`)
	d := open(t, superuser())
	stop := make(chan struct{})
	var inserted atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			pg.Exec(t, "busy", "INSERT INTO statuses (text) SELECT 'during' FROM generate_series(1, 100)")
			inserted.Add(100)
		}
	}()
	var out slowWriter
	info, err := d.Dump(context.Background(), "busy", &out)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	restore(t, out.buf.Bytes(), "busy_restored")
	restored := pg.Query(t, "busy_restored", "SELECT count(*) FROM statuses")
	if want := fmt.Sprint(info.Tables[0].Rows); restored != want {
		t.Errorf("restored %s rows, counted %s", restored, want)
	}
	total := pg.Query(t, "busy", "SELECT count(*) FROM statuses")
	t.Logf("counted %d rows in the snapshot, %s after the dump, %d inserted during it", info.Tables[0].Rows, total, inserted.Load())
	if total == restored {
		t.Log("no insert landed during the dump: the test proved less than it could")
	}
}

func TestGlobals(t *testing.T) {
	pg.Exec(t, "postgres", `CREATE ROLE mastodon LOGIN PASSWORD 'tootpass' CREATEDB;
		CREATE ROLE backup LOGIN PASSWORD 'backuppass';`)
	var out bytes.Buffer
	info, err := open(t, superuser()).Globals(context.Background(), &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "CREATE ROLE mastodon") || !strings.Contains(out.String(), "PASSWORD 'SCRAM-SHA-256$") || len(info.Notes) != 0 {
		t.Errorf("superuser globals lack roles or passwords (notes %q):\n%s", info.Notes, out.String())
	}
	// A role that cannot read pg_authid, as on managed PostgreSQL.
	cfg := superuser()
	cfg.User, cfg.Password = "backup", "backuppass"
	out.Reset()
	info, err = open(t, cfg).Globals(context.Background(), &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "CREATE ROLE mastodon") || strings.Contains(out.String(), "PASSWORD") {
		t.Errorf("unprivileged globals:\n%s", out.String())
	}
	if len(info.Notes) != 1 || !strings.Contains(info.Notes[0], "role passwords not dumped") || !strings.Contains(info.Command, "--no-role-passwords") {
		t.Errorf("notes %q, command %q", info.Notes, info.Command)
	}
}

func TestWrongPassword(t *testing.T) {
	cfg := superuser()
	cfg.Password = "not-the-password-xyzzy"
	_, err := Open(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "password authentication failed") || strings.Contains(err.Error(), "xyzzy") {
		t.Fatalf("Open with a wrong password = %v", err)
	}
}

func TestMissingDatabase(t *testing.T) {
	_, err := open(t, superuser()).Dump(context.Background(), "no_such_db", io.Discard)
	if err == nil || !strings.Contains(err.Error(), `"no_such_db" does not exist`) {
		t.Fatalf("Dump of a missing database = %v", err)
	}
}

func TestClientOlderThanServer(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"pg_dump", "pg_dumpall"} {
		script := "#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.16'\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := superuser()
	cfg.BinDir = dir
	_, err := Open(context.Background(), cfg)
	want := fmt.Sprintf("is version 13 but the server is %d", pg.Major)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), fmt.Sprintf("install postgresql-client-%d", pg.Major)) {
		t.Fatalf("Open with pg_dump 13 = %v", err)
	}
}

// killer kills the pg_dump writing to it once the first bytes arrived, and
// records its command line, which must not hold the password.
type killer struct {
	buf     bytes.Buffer
	killed  bool
	cmdline string
}

func (k *killer) Write(p []byte) (int, error) {
	if !k.killed {
		k.killed = true
		pid, cmdline := findProcess("--snapshot=")
		k.cmdline = cmdline
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return k.buf.Write(p)
}

func findProcess(arg string) (int, string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		var pid int
		fmt.Sscanf(p, "/proc/%d/cmdline", &pid)
		// Only our own child: other test packages run pg_dump at the same time.
		if strings.Contains(cmd, arg) && strings.Contains(cmd, "pg_dump") && testenv.ParentPID(pid) == os.Getpid() {
			return pid, cmd
		}
	}
	return 0, ""
}

func TestKilledDump(t *testing.T) {
	pg.Exec(t, "postgres", "CREATE DATABASE big")
	pg.Exec(t, "big", "CREATE TABLE t AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 100000) g")
	var k killer
	_, err := open(t, superuser()).Dump(context.Background(), "big", &k)
	if err == nil || !strings.Contains(err.Error(), "signal: killed") {
		t.Fatalf("Dump whose pg_dump was killed = %v", err)
	}
	if k.cmdline == "" || strings.Contains(k.cmdline, pg.Password) {
		t.Errorf("pg_dump's argv %q (must exist and not hold the password)", k.cmdline)
	}
}
