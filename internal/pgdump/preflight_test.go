package pgdump

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"mbackup/internal/artifact"
	"mbackup/internal/dump"
	"mbackup/internal/engine"
	"mbackup/internal/human"
	"mbackup/internal/testenv"
)

// TestDumpRecordsExtensions: a dump's Info lists the database's
// extensions, plpgsql included, so that a restore can check its target.
func TestDumpRecordsExtensions(t *testing.T) {
	pg.Exec(t, "postgres", "DROP DATABASE IF EXISTS ext_one")
	pg.Exec(t, "postgres", "CREATE DATABASE ext_one")
	pg.Exec(t, "ext_one", "CREATE EXTENSION pgcrypto; CREATE TABLE t AS SELECT 1 AS n")
	_, info := dumpToFile(t, open(t, superuser()), "ext_one")
	if !slices.Equal(info.Extensions, []string{"pgcrypto", "plpgsql"}) {
		t.Errorf("extensions %q", info.Extensions)
	}
}

func TestMajorOf(t *testing.T) {
	for v, want := range map[string]int{"15.19": 1500, "15.20 (Debian 15.20-0+deb12u1)": 1500, "9.6.24": 906, "17beta1": 1700,
		"99.0": 9900, "10.1": 1000, "9": 900} {
		if got, _, ok := majorOf(v); !ok || got != want {
			t.Errorf("majorOf(%q) = %d, %v; want %d", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "banana", "99999999999999999999.1", "-1"} {
		if got, _, ok := majorOf(v); ok {
			t.Errorf("majorOf(%q) = %d, want none", v, got)
		}
	}
}

// TestTOCProgress feeds pg_restore --verbose lines: entries of the table
// of contents are counted once, only those of the list; the table being
// loaded is reported without control characters; errors are not taken.
func TestTOCProgress(t *testing.T) {
	var got []engine.Progress
	p := &tocProgress{toc: map[string]bool{"2": true, "216": true, "3392": true}, report: func(pr engine.Progress) { got = append(got, pr) }}
	for _, c := range []struct {
		line  string
		taken bool
	}{
		{"pg_restore: connecting to database for restore", true},
		{"pg_restore: processing item 3398 ENCODING ENCODING", true},
		{"pg_restore: processing item 2 EXTENSION pgcrypto", true},
		{`pg_restore: creating TABLE "public.a"`, true},
		{"pg_restore: processing item 216 TABLE a", true},
		{"pg_restore: launching item 3392 TABLE DATA a", true},
		{"pg_restore: processing data for table \"public.\x1b[2Jevil\"", true},
		{"pg_restore: finished item 3392 TABLE DATA a", true},
		{"pg_restore: finished item 3392 TABLE DATA a", true},
		{"pg_restore: from TOC entry 3392; 0 16423 TABLE DATA a postgres", false},
		{`pg_restore: error: COPY failed for table "a": ERROR:  x`, false},
		{"Command was: COPY public.a (id) FROM stdin;", false},
		{"pg_restore: warning: errors ignored on restore: 1", false},
	} {
		if taken := p.line(c.line); taken != c.taken {
			t.Errorf("%q taken: %v", c.line, taken)
		}
	}
	last := got[len(got)-1]
	if last.Done != 3 || last.Total != 3 || last.Unit != engine.Items || last.What != "table public.?[2Jevil" {
		t.Errorf("last progress %+v", last)
	}
	if got[3].What != "table public.a" {
		t.Errorf("progress while creating: %+v", got[3])
	}
	if s := human.Printable(strings.Repeat("é", 300), maxWhat); len([]rune(s)) != maxWhat {
		t.Errorf("printable kept %d runes", len([]rune(s)))
	}
}

// TestRestoreProgress restores with a progress callback: pg_restore runs
// verbose, every entry of the table of contents is counted, the tables
// are named, and a failure's error still carries pg_restore's complaint
// and none of its progress lines.
func TestRestoreProgress(t *testing.T) {
	for _, db := range []string{"prog_src", "prog_dst"} {
		pg.Exec(t, "postgres", "DROP DATABASE IF EXISTS "+db)
	}
	pg.Exec(t, "postgres", "CREATE DATABASE prog_src")
	pg.Exec(t, "prog_src", `CREATE TABLE big (id int PRIMARY KEY, v text); INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
		CREATE TABLE "Small One" (k text); CREATE INDEX ON big (v);`)
	file, info := dumpToFile(t, open(t, superuser()), "prog_src")
	var mu sync.Mutex
	var got []engine.Progress
	report := func(p engine.Progress) {
		if !mu.TryLock() {
			t.Error("progress reported concurrently")
			return
		}
		defer mu.Unlock()
		got = append(got, p)
	}
	if err := RestoreDatabase(context.Background(), superuser(), "prog_dst", file, RestoreOptions{Progress: report}); err != nil {
		t.Fatal(err)
	}
	checkRestored(t, pg, "prog_dst", info)
	last := got[len(got)-1]
	if last.Done != last.Total || last.Total < 6 || last.Unit != engine.Items {
		t.Errorf("last progress %+v", last)
	}
	var tables []string
	for i, p := range got {
		if i > 0 && p.Done < got[i-1].Done {
			t.Errorf("progress went back: %+v after %+v", p, got[i-1])
		}
		if strings.HasPrefix(p.What, "table ") && !slices.Contains(tables, p.What) {
			tables = append(tables, p.What)
		}
	}
	slices.Sort(tables)
	if !slices.Equal(tables, []string{"table public.Small One", "table public.big"}) {
		t.Errorf("tables reported: %q", tables)
	}
	t.Logf("%d reports, last %+v", len(got), last)

	data, _ := os.ReadFile(file)
	cut := filepath.Join(t.TempDir(), "cut.dump")
	os.WriteFile(cut, data[:len(data)*3/4], 0o600)
	err := RestoreDatabase(context.Background(), superuser(), "prog_cut", cut, RestoreOptions{Progress: func(engine.Progress) {}})
	// pg_restore's workers write "pg_restore: " and the message apart, so
	// their lines can interleave on the shared stderr: a progress line cut
	// so stays in the tail, which no test can rule out.
	wantErr(t, err, "error: could not read from input file: end of file")
	for _, verbose := range []string{"processing item", "launching item", "creating TABLE"} {
		if strings.Count(err.Error(), verbose) > 1 {
			t.Errorf("progress lines %q in the error", verbose)
		}
	}
	checkNoDatabase(t, pg, "prog_cut")
}

// TestRolesWithoutPassword: the report of a globals restore lists the
// roles that can log in but have no password, with the statement to set
// one, its identifier quoted.
func TestRolesWithoutPassword(t *testing.T) {
	ctx := context.Background()
	pg.Exec(t, "postgres", `DROP ROLE IF EXISTS "No ""Pw"" role", nopw_group, nopw_has`)
	pg.Exec(t, "postgres", `CREATE ROLE "No ""Pw"" role" LOGIN; CREATE ROLE nopw_group NOLOGIN; CREATE ROLE nopw_has LOGIN PASSWORD 'x'`)
	var globals strings.Builder
	if _, err := open(t, superuser()).Globals(ctx, &globals); err != nil {
		t.Fatal(err)
	}
	target := testenv.StartPostgres(t)
	rep, err := RestoreGlobals(ctx, configOf(target), strings.NewReader(globals.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.NoPassword, `No "Pw" role`) || slices.Contains(rep.NoPassword, "nopw_group") || slices.Contains(rep.NoPassword, "nopw_has") {
		t.Errorf("roles without a password: %q", rep.NoPassword)
	}
	lines := strings.Join(rep.lines(), "\n")
	for _, want := range []string{"roles can log in but have no password", `  ALTER ROLE "No ""Pw"" role" PASSWORD '...';`} {
		if !strings.Contains(lines, want) {
			t.Errorf("report lines:\n%s\nwant %q", lines, want)
		}
	}
	t.Log(lines)
}

// TestPreflightClientTools: a missing psql or pg_restore, and a pg_restore
// whose version is no version, are refused before anything is written.
func TestPreflightClientTools(t *testing.T) {
	ctx := context.Background()
	cfg := superuser()
	cfg.BinDir = t.TempDir()
	info := dump.Info{Version: "pg_dump (PostgreSQL) 15.1", ServerVersion: "15.1", Extensions: []string{"plpgsql"}}
	db := engine.Pending{Artifact: artifact.Ref{Component: artifact.Postgres, Name: "tools_db", Kind: artifact.Dump},
		Database: "tools_db", Info: info}
	globals := engine.Pending{Artifact: artifact.Ref{Component: artifact.Postgres, Name: "globals", Kind: artifact.SQL}}
	for _, c := range []struct {
		p    engine.Pending
		want string
	}{{db, filepath.Join(cfg.BinDir, "pg_restore")}, {globals, filepath.Join(cfg.BinDir, "psql")}} {
		if _, err := cfg.Preflight(ctx, c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Preflight of %s without %s: %v", c.p.Artifact, c.want, err)
		}
	}
	script := "#!/bin/sh\necho 'not a version'\n"
	if err := os.WriteFile(filepath.Join(cfg.BinDir, "pg_restore"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := cfg.Preflight(ctx, db)
	if err == nil || !strings.Contains(err.Error(), "not a PostgreSQL version") {
		t.Errorf("Preflight with a pg_restore that prints no version: %v", err)
	}
	if got := pg.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'tools_db'"); got != "0" {
		t.Error("the preflight created the database")
	}
}
