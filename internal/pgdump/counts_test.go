package pgdump

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mbackup/internal/dump"
)

// countFixture makes database db with every kind of table the row counts
// must get right: a large object, a partitioned table, values holding
// newlines, tabs, backslashes, `\.`, an empty string and carriage returns,
// an empty table, a schema and a table whose names need quoting, and a
// table that belongs to an extension (whose rows pg_dump leaves out).
func countFixture(t *testing.T, db string) {
	t.Helper()
	pg.Exec(t, "postgres", "CREATE DATABASE "+db)
	pg.Exec(t, db, `CREATE SCHEMA "Side Schema";
		CREATE TABLE accounts (id bigserial PRIMARY KEY, username text NOT NULL);
		INSERT INTO accounts (username) SELECT 'user' || g FROM generate_series(1, 2345) g;
		CREATE TABLE events (at date, v int) PARTITION BY RANGE (at);
		CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
		CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
		INSERT INTO events SELECT '2025-05-01', g FROM generate_series(1, 11) g;
		INSERT INTO events SELECT '2026-05-01', g FROM generate_series(1, 77) g;
		CREATE TABLE "Side Schema"."Weird ""Values""" (t text, b bytea);
		INSERT INTO "Side Schema"."Weird ""Values""" VALUES (E'line\nbreak', E'\\x0a0d'), (E'tab\there', NULL),
		  (E'back\\slash', E'\\x5c2e'), (E'\\.', NULL), ('.', NULL), ('', ''), (NULL, NULL), (E'\r\n', NULL),
		  (E'\n\\.\n', NULL), (repeat(E'x\n', 40000), NULL);
		CREATE TABLE empty (x int);
		CREATE TABLE ext_member (x int); INSERT INTO ext_member VALUES (1), (2), (3);
		ALTER EXTENSION plpgsql ADD TABLE ext_member;
		SELECT lo_from_bytea(0, E'large\nobject\n');
		VACUUM;`)
}

const countFixtureWant = `Side Schema.Weird "Values"=10 public.accounts=2345 public.empty=0 public.events_2025=11 public.events_2026=77 public.ext_member=3`

// TestStreamCountsEqualCountStar: the counts of a dump are those count(*)
// gives in the same database, taken from the archive's bytes, and the
// server read every table once during the dump: pg_dump's COPY for the
// tables it dumps, count(*) for the extension's, never both.
func TestStreamCountsEqualCountStar(t *testing.T) {
	countFixture(t, "rc_stream")
	before := seqTupRead(t, "rc_stream")
	info, err := open(t, superuser()).Dump(context.Background(), "rc_stream", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := counts(info.Tables); got != countFixtureWant {
		t.Errorf("counted %q,\n want %q", got, countFixtureWant)
	}
	if len(info.Notes) > 0 {
		t.Errorf("notes %q: the stream's counts were not used", info.Notes)
	}
	after := seqTupReadAfter(t, "rc_stream", before, info.Tables)
	for _, tc := range info.Tables {
		k := tc.Schema + "." + tc.Table
		if read := after[k] - before[k]; read != tc.Rows {
			t.Errorf("%s: the server read %d rows during the dump, the table has %d", k, read, tc.Rows)
		}
	}
	// Only now: count(*) reads every table again.
	star, err := CountRows(context.Background(), superuser(), "rc_stream")
	if err != nil {
		t.Fatal(err)
	}
	if counts(star) != counts(info.Tables) {
		t.Errorf("count(*) gives %q, the dump %q", counts(star), counts(info.Tables))
	}
}

// seqTupRead returns pg_stat_user_tables.seq_tup_read of every table of
// db.
func seqTupRead(t *testing.T, db string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	out := pg.Query(t, db, `SELECT pg_stat_clear_snapshot(); SELECT schemaname || '.' || relname || '|' || seq_tup_read FROM pg_stat_user_tables`)
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, "|")
		if n, err := strconv.ParseInt(v, 10, 64); ok && err == nil {
			got[k] = n
		}
	}
	return got
}

// seqTupReadAfter waits until the statistics show every table of want
// read at least its rows since before (they reach the view a little after
// a backend's transaction ends), and a moment longer for any read too
// many, and returns them.
func seqTupReadAfter(t *testing.T, db string, before map[string]int64, want []dump.TableCount) map[string]int64 {
	t.Helper()
	deadline := time.Now().Add(5 * 10 * time.Second)
	for {
		got := seqTupRead(t, db)
		done := true
		for _, tc := range want {
			k := tc.Schema + "." + tc.Table
			done = done && got[k]-before[k] >= tc.Rows
		}
		if done || time.Now().After(deadline) {
			time.Sleep(2 * time.Second)
			return seqTupRead(t, db)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestCompressedArchiveFallsBackToCountStar: an archive the stream counter
// cannot read (here compressed, as a pg_dump that ignored -Z0 would write)
// is still counted exactly, with count(*), and the dump's notes say why.
func TestCompressedArchiveFallsBackToCountStar(t *testing.T) {
	countFixture(t, "rc_fallback")
	dir := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\nexec %s \"$@\" -Z1\n", filepath.Join(pg.BinDir, "pg_dump"))
	if err := os.WriteFile(filepath.Join(dir, "pg_dump"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(pg.BinDir, "pg_dumpall"), filepath.Join(dir, "pg_dumpall")); err != nil {
		t.Fatal(err)
	}
	cfg := superuser()
	cfg.BinDir = dir
	info, err := open(t, cfg).Dump(context.Background(), "rc_fallback", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := counts(info.Tables); got != countFixtureWant {
		t.Errorf("counted %q,\n want %q", got, countFixtureWant)
	}
	if len(info.Notes) != 1 || !strings.Contains(info.Notes[0], "count(*)") || !strings.Contains(info.Notes[0], "compressed") {
		t.Errorf("notes %q, want one on count(*) and the compressed archive", info.Notes)
	}
}
