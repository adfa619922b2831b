package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mbackup/internal/b2test"
	"mbackup/internal/snapshot"
)

// jsonDoc runs args, wants exit code want, and decodes standard output,
// which must hold one JSON document and nothing else, into v with unknown
// fields refused. It returns the document's key paths and standard error.
func jsonDoc(t *testing.T, want int, v any, args ...string) (keys map[string]bool, errOut string) {
	t.Helper()
	code, out, errOut := mbackup(t, args...)
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() || code != want {
		t.Fatalf("%v exited %d (want %d), %v; standard output:\n%s\nstandard error:\n%s", args, code, want, err, out, errOut)
	}
	var raw any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	keys = map[string]bool{}
	keyPaths(raw, "", keys)
	return keys, errOut
}

// keyPaths adds the key paths of v to keys: "artifacts[].plain_bytes".
// It also checks the conventions: snake_case keys, no null list.
func keyPaths(v any, prefix string, keys map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			keys[p] = true
			keyPaths(x, p, keys)
		}
	case []any:
		for _, x := range v {
			keyPaths(x, prefix+"[]", keys)
		}
	}
}

// readmeKeys returns the key paths of the README's example of doc in its
// "JSON output" section: the first ```json block after "### doc".
func readmeKeys(t *testing.T, doc string) map[string]bool {
	t.Helper()
	_, sub, ok := strings.Cut(readmeSection(t, "JSON output"), "\n### "+doc+"\n")
	if !ok {
		t.Fatalf("README.md's JSON output has no %q", "### "+doc)
	}
	sub, _, _ = strings.Cut(sub, "\n### ")
	var raw any
	if err := json.Unmarshal([]byte(codeBlock(t, sub, "json")), &raw); err != nil {
		t.Fatalf("README.md's example of %s: %v", doc, err)
	}
	keys := map[string]bool{}
	keyPaths(raw, "", keys)
	return keys
}

// checkKeys wants the keys seen in the runs of a command equal to the
// golden list and to the README's example; with some, only a subset of
// them (a document whose optional parts the runs do not all show).
func checkKeys(t *testing.T, doc string, seen map[string]bool, golden []string, some bool) {
	t.Helper()
	want := map[string]bool{}
	for _, k := range golden {
		want[k] = true
	}
	for k := range want {
		// status counts snapshots by their status, one of which is
		// "newer-format": a value as a key, not a field name.
		if k != "snapshots."+snapshot.StatusNewerFormat && (k != strings.ToLower(k) || strings.ContainsAny(k, " -")) {
			t.Errorf("%s: key %q is not snake_case", doc, k)
		}
	}
	if readme := readmeKeys(t, doc); !maps.Equal(readme, want) {
		t.Errorf("%s: README's example has keys\n%v\nthe golden list\n%v", doc, slices.Sorted(maps.Keys(readme)), golden)
	}
	for k := range seen {
		if !want[k] {
			t.Errorf("%s: key %q is not in the golden list", doc, k)
		}
	}
	if some {
		return
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("%s: key %q never printed", doc, k)
		}
	}
}

// add adds the keys of b to a.
func add(a, b map[string]bool) map[string]bool {
	maps.Copy(a, b)
	return a
}

// checkTime wants s a time of the documents: RFC 3339, UTC, to the second.
func checkTime(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if tm.IsZero() || tm.Location() != time.UTC || tm.Nanosecond() != 0 {
		t.Errorf("%s: time %v is not UTC to the second", what, tm)
	}
}

var backupKeys = []string{"status", "snapshot", "host", "started", "finished", "duration_seconds", "plain_bytes", "stored_bytes",
	"artifacts", "artifacts[].component", "artifacts[].name", "artifacts[].key", "artifacts[].plain_bytes", "artifacts[].stored_bytes",
	"artifacts[].duration_seconds", "failed", "failed[].component", "failed[].name", "failed[].reason", "warnings", "error"}

// TestBackupJSON: backup --json prints one document on standard output,
// for a complete snapshot (exit 0), a partial one (exit 3) and a run that
// committed nothing (exit 1), the log lines on standard error.
func TestBackupJSON(t *testing.T) {
	pg.Exec(t, "postgres", "CREATE DATABASE json_ok")
	pg.Exec(t, "json_ok", "CREATE TABLE t AS SELECT g FROM generate_series(1, 100) g")
	_, cfg := setup(t, "  databases: [json_ok]\n  globals: false\n")
	var ok backupJSON
	seen, errOut := jsonDoc(t, exitOK, &ok, "--config", cfg, "backup", "--only", "postgres", "--json")
	if ok.Status != "complete" || ok.Snapshot == "" || ok.Host != "test-host" || len(ok.Artifacts) != 1 || ok.Error != "" ||
		ok.Artifacts[0].Name != "json_ok" || ok.StoredBytes != ok.Artifacts[0].StoredBytes || ok.PlainBytes <= 0 || len(ok.Failed) != 0 {
		t.Errorf("complete: %+v", ok)
	}
	checkTime(t, "started", ok.Started)
	checkTime(t, "finished", ok.Finished)
	if !strings.Contains(errOut, "taking a snapshot") {
		t.Errorf("the log lines are not on standard error:\n%s", errOut)
	}
	if _, listed, _ := mbackup(t, "--config", cfg, "list"); !strings.Contains(listed, ok.Snapshot) {
		t.Errorf("list does not show %s:\n%s", ok.Snapshot, listed)
	}

	_, cfg = setup(t, "  databases: [json_ok, json_missing]\n  globals: false\n")
	var partial backupJSON
	add(seen, must(jsonDoc(t, exitPartial, &partial, "--config", cfg, "backup", "--only", "postgres", "--json")))
	if partial.Status != "partial" || partial.Snapshot == "" || len(partial.Failed) != 1 || partial.Failed[0].Name != "json_missing" ||
		!strings.Contains(partial.Error, "json_missing") {
		t.Errorf("partial: %+v", partial)
	}

	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), fmt.Sprintf("port: %d", pg.Port), "port: 1", 1)), 0o600)
	var failed backupJSON
	add(seen, must(jsonDoc(t, exitError, &failed, "--config", cfg, "backup", "--only", "postgres", "--json")))
	if failed.Status != "failed" || failed.Snapshot != "" || len(failed.Artifacts) != 0 || !strings.Contains(failed.Error, "nothing committed") {
		t.Errorf("failed: %+v", failed)
	}
	checkKeys(t, "backup --json", seen, backupKeys, false)
}

// must drops the second result.
func must[T, U any](a T, _ U) T { return a }

var pruneKeys = []string{"dry_run", "policy", "policy.keep_within_seconds", "policy.keep_last", "policy.keep_daily",
	"policy.keep_weekly", "policy.keep_monthly", "snapshots", "snapshots[].id", "snapshots[].time", "snapshots[].status",
	"snapshots[].keep", "snapshots[].reason", "snapshots[].held_by", "deleted", "interrupted_runs", "left_alone", "shrink_holds",
	"locked", "locked[].id", "locked[].until", "locked[].snapshot", "hidden",
	"unfinished_uploads_cancelled", "objects", "bytes", "kept", "error"}

// TestPruneJSON: prune --dry-run --json tells what prune --json then
// deletes, the policy as understood and a reason for every snapshot.
func TestPruneJSON(t *testing.T) {
	dir, cfg := setup(t, "")
	day := 24 * time.Hour
	gone := []string{takeAt(t, dir, 20*day), takeAt(t, dir, 19*day)} // prune deletes the oldest first
	kept := []string{takeAt(t, dir, time.Hour), takeAt(t, dir, 18*day)}

	var dry pruneJSON
	seen, errOut := jsonDoc(t, exitOK, &dry, "--config", cfg, "prune", "--dry-run", "--json")
	if !dry.DryRun || !slices.Equal(dry.Deleted, gone) || len(dry.InterruptedRuns) != 3 || dry.Kept != 2 || dry.Bytes <= 0 ||
		dry.Policy == nil || dry.Policy.KeepLast != 2 || dry.Policy.KeepWithinSeconds != (14*day).Seconds() || len(dry.Snapshots) != 4 || dry.Error != "" {
		t.Fatalf("dry run: %+v", dry)
	}
	for i, id := range append(slices.Clone(kept), gone[1], gone[0]) { // newest first
		s := dry.Snapshots[i]
		checkTime(t, s.ID, s.Time)
		if s.ID != id || s.Keep != (i < 2) || s.Reason == "" || s.Status != "complete" {
			t.Errorf("snapshot %d: %+v, want %s", i, s, id)
		}
	}
	if !strings.Contains(errOut, "would delete snapshot "+gone[0]) || !strings.Contains(errOut, "would prune 2 snapshots") {
		t.Errorf("the lines are not on standard error:\n%s", errOut)
	}
	var done pruneJSON
	add(seen, must(jsonDoc(t, exitOK, &done, "--config", cfg, "prune", "--json")))
	if done.DryRun || !slices.Equal(done.Deleted, gone) || len(done.InterruptedRuns) != 3 || done.Objects == 0 || done.Kept != 2 {
		t.Errorf("prune: %+v", done)
	}
	if ids := committed(t, cfg); !slices.Equal(ids, kept) {
		t.Errorf("left %v, want %v", ids, kept)
	}

	srv := b2test.New(t)
	srv.CreateLockedBucket("backups", b2test.Governance, 15)
	_, lcfg := b2Setup(t, srv, "  lock: {mode: governance, days: 15}\n", "retention:\n  keep_within: 1d\n  keep_last: 1\n")
	old := takeInto(t, lcfg, time.Now().Add(-3*day))
	takeInto(t, lcfg, time.Now().Add(-time.Hour))
	var locked pruneJSON
	add(seen, must(jsonDoc(t, exitOK, &locked, "--config", lcfg, "prune", "--json")))
	if len(locked.Locked) != 1 || locked.Locked[0].ID != old || len(locked.Deleted) != 0 {
		t.Errorf("prune on a locked bucket: %+v", locked)
	}

	os.WriteFile(cfg, []byte("storage:\n  type: local\n  pth: /tmp\n"), 0o600)
	var bad pruneJSON
	add(seen, must(jsonDoc(t, exitUsage, &bad, "--config", cfg, "prune", "--json")))
	if bad.Policy != nil || bad.Error == "" || len(bad.Snapshots) != 0 {
		t.Errorf("a bad config: %+v", bad)
	}
	checkKeys(t, "prune --json", seen, pruneKeys, false)
}

var checkJSONKeys = []string{"ok", "failed", "warnings", "checks", "checks[].what", "checks[].level", "checks[].message", "checks[].fix",
	"lock", "lock.mode", "lock.days", "lock.min_days", "error"}

// TestCheckJSON: check --json lists every check with its level and fix;
// a ❌ makes ok false and the exit code 1, as without --json.
func TestCheckJSON(t *testing.T) {
	dir, cfg := setup(t, "  databases: [postgres]\n")
	var good checkJSON
	seen, _ := jsonDoc(t, exitOK, &good, "--config", cfg, "check", "--json")
	levels := map[string]string{}
	for _, c := range good.Checks {
		levels[c.What] = c.Level
	}
	if !good.OK || good.Failed != 0 || good.Warnings == 0 || levels["config"] != "ok" || levels["identity"] != "warn" || good.Error != "" {
		t.Errorf("check --json: %+v", good)
	}
	os.WriteFile(filepath.Join(dir, "pg.pass"), []byte("wrong\n"), 0o600)
	var bad checkJSON
	add(seen, must(jsonDoc(t, exitError, &bad, "--config", cfg, "check", "--json")))
	var fails []checkResultJSON
	for _, c := range bad.Checks {
		if c.Level == "fail" {
			fails = append(fails, c)
		}
	}
	if bad.OK || bad.Failed != len(fails) || len(fails) == 0 || !strings.HasPrefix(fails[0].What, "postgres") ||
		fails[0].Message == "" || !strings.Contains(bad.Error, "failed") {
		t.Errorf("check --json with a wrong password: %+v", bad)
	}
	srv := b2test.New(t)
	srv.CreateLockedBucket("backups", b2test.Governance, 15)
	srv.RestrictKey("backups", "listFiles", "readFiles", "writeFiles", "deleteFiles", "readFileRetentions", "writeFileRetentions",
		"readBucketRetentions", "readBucketEncryption")
	_, lcfg := b2Setup(t, srv, "  lock: {mode: governance, days: 15}\n", "")
	var locked checkJSON
	add(seen, must(jsonDoc(t, exitOK, &locked, "--config", lcfg, "check", "--json")))
	if locked.Lock == nil || *locked.Lock != (checkLockJSON{Mode: "governance", Days: 15, MinDays: 15}) {
		t.Errorf("check --json with a lock: %+v", locked.Lock)
	}
	checkKeys(t, "check --json", seen, checkJSONKeys, false)
}

var verifyKeys = []string{"ok", "snapshots", "snapshots[].id", "snapshots[].status", "snapshots[].time", "snapshots[].future",
	"snapshots[].ok", "snapshots[].checks", "snapshots[].artifacts", "snapshots[].stored_bytes", "snapshots[].restore_drill",
	"snapshots[].restore_drill.ok", "snapshots[].restore_drill.artifacts", "snapshots[].restore_drill.tables",
	"snapshots[].restore_drill.duration_seconds", "snapshots[].error", "incomplete", "error"}

// TestVerifyJSON: verify --all --json gives a verdict per snapshot and the
// checks made; a damaged artifact fails its snapshot and the command.
func TestVerifyJSON(t *testing.T) {
	dir, cfg := setup(t, "")
	older, newer := takeAt(t, dir, 72*time.Hour), takeAt(t, dir, time.Hour)
	var good verifyJSON
	seen, errOut := jsonDoc(t, exitOK, &good, "--config", cfg, "verify", "--all", "--json")
	if !good.OK || len(good.Snapshots) != 2 || good.Snapshots[0].ID != newer || good.Snapshots[1].ID != older || len(good.Incomplete) != 1 {
		t.Fatalf("verify --all --json: %+v", good)
	}
	for _, s := range good.Snapshots {
		checkTime(t, s.ID, s.Time)
		if !s.OK || !slices.Equal(s.Checks, []string{"signature", "stored_hashes"}) || s.Artifacts != 1 || s.StoredBytes <= 0 || s.Drill != nil {
			t.Errorf("verdict %+v", s)
		}
	}
	if !strings.Contains(errOut, newer+": complete: 1 artifacts") {
		t.Errorf("the verdict lines are not on standard error:\n%s", errOut)
	}
	m := snapshotOf(t, cfg, older)
	os.WriteFile(filepath.Join(dir, "store", m.Artifacts[0].Key), []byte("damaged"), 0o600)
	var bad verifyJSON
	add(seen, must(jsonDoc(t, exitError, &bad, "--config", cfg, "verify", "--all", "--json")))
	if bad.OK || !bad.Snapshots[0].OK || bad.Snapshots[1].OK || bad.Snapshots[1].Error == "" || !strings.Contains(bad.Error, "1 of 2") {
		t.Errorf("verify of a damaged snapshot: %+v", bad)
	}
	var one verifyJSON
	add(seen, must(jsonDoc(t, exitOK, &one, "--config", cfg, "verify", newer, "--json")))
	if !one.OK || len(one.Snapshots) != 1 || one.Snapshots[0].ID != newer {
		t.Errorf("verify ID --json: %+v", one)
	}
	checkKeys(t, "verify --json", seen, verifyKeys, true) // restore_drill: TestVerifyRestoreIntoJSON
}

// TestVerifyRestoreIntoJSON: with --restore-into, each verdict carries the
// drill's counts.
func TestVerifyRestoreIntoJSON(t *testing.T) {
	maria.Exec(t, "", "CREATE DATABASE json_blog")
	maria.Exec(t, "json_blog", "CREATE TABLE posts (id int PRIMARY KEY); INSERT INTO posts VALUES (1), (2)")
	dir, cfg := setup(t, "")
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), "\nmysql:\n", "\nmysql:\n  databases: [json_blog]\n", 1)), 0o600)
	if code, out, errOut := mbackup(t, "--config", cfg, "backup", "--only", "mysql"); code != exitOK {
		t.Fatalf("backup exited %d:\n%s\n%s", code, out, errOut)
	}
	t.Setenv("MYSQL_PWD", maria.Password)
	var doc verifyJSON
	seen, _ := jsonDoc(t, exitOK, &doc, "--config", cfg, "verify", "-i", filepath.Join(dir, "id.txt"), "--staging", t.TempDir(),
		"--restore-into", fmt.Sprintf("mysql://%s@%s:%d", maria.User, maria.Host, maria.Port), "--json")
	if len(doc.Snapshots) != 1 {
		t.Fatalf("verify --restore-into --json: %+v", doc)
	}
	s := doc.Snapshots[0]
	if !doc.OK || !s.OK || !slices.Equal(s.Checks, []string{"signature", "stored_hashes", "plaintext_hashes", "restore_drill"}) ||
		s.Drill == nil || !s.Drill.OK || s.Drill.Artifacts != 1 || s.Drill.Tables != 1 {
		t.Errorf("verdict %+v, drill %+v", s, s.Drill)
	}
	checkKeys(t, "verify --json", seen, verifyKeys, true)
}

var statusKeys = []string{"snapshots", "snapshots.complete", "snapshots.partial", "snapshots.incomplete", "snapshots.unreadable",
	"snapshots.newer-format", "newest_good", "newest_good.id", "newest_good.status", "newest_good.time", "newest_good.age_seconds",
	"newest", "newest.id", "newest.status", "newest.time", "newest.age_seconds", "attention", "attention[].id", "attention[].status",
	"attention[].reason", "schedules", "schedules[].job", "schedules[].cron", "schedules[].next", "run_in_progress",
	"daemon", "daemon.url", "daemon.reachable", "daemon.last_runs", "daemon.last_runs[].job", "daemon.last_runs[].result",
	"daemon.last_runs[].time", "daemon.last_runs[].duration_seconds", "last_drill", "last_drill.snapshot", "last_drill.host",
	"last_drill.ok", "last_drill.time", "last_drill.age_seconds", "last_drill.rto_seconds", "last_drill.error", "last_good_drill",
	"last_good_drill.snapshot", "last_good_drill.host", "last_good_drill.ok", "last_good_drill.time", "last_good_drill.age_seconds",
	"last_good_drill.rto_seconds", "max_age", "max_age.seconds", "max_age.ok", "max_age.reason", "error",
	"versions", "versions.hidden", "versions.overwritten"}

// TestStatusMaxAge walks every outcome of status --max-age, with and
// without --json: exit 1 without a complete snapshot younger than the
// bound (none at all, only an older one, only one dated in the future),
// exit 0 with one, exit 2 for a bound that is not a positive duration.
func TestStatusMaxAge(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range []struct {
		name   string
		ages   []time.Duration // of the snapshots taken
		maxAge string
		code   int
		want   string
	}{
		{"empty store", nil, "26h", exitError, "none in the store"},
		{"too old", []time.Duration{30 * time.Hour, 72 * time.Hour}, "26h", exitError, "is 30h"},
		{"future only", []time.Duration{-48 * time.Hour}, "26h", exitError, "none in the store"},
		{"young", []time.Duration{72 * time.Hour, 2 * time.Hour}, "26h", exitOK, "younger than 26h"},
		{"days", []time.Duration{30 * time.Hour}, "2d", exitOK, "younger than 2d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, cfg := setup(t, "")
			os.MkdirAll(filepath.Join(dir, "store"), 0o700)
			for _, a := range tc.ages {
				takeAt(t, dir, a)
			}
			code, out, errOut := mbackup(t, "--config", cfg, "status", "--max-age", tc.maxAge)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("status --max-age %s exited %d, want %d and %q:\n%s\n%s", tc.maxAge, code, tc.code, tc.want, out, errOut)
			}
			if !strings.Contains(out, "newest good snapshot: ") {
				t.Errorf("status --max-age does not print the status:\n%s", out)
			}
			var doc statusJSON
			add(seen, must(jsonDoc(t, tc.code, &doc, "--config", cfg, "status", "--max-age", tc.maxAge, "--json")))
			ma := doc.MaxAge
			if ma == nil || ma.OK != (tc.code == exitOK) || !strings.Contains(ma.Reason, tc.want) ||
				(doc.Error == "") != (tc.code == exitOK) || doc.Report == nil {
				t.Errorf("status --max-age --json: %+v, max_age %+v", doc, ma)
			}
			if d, _ := time.ParseDuration(strings.Replace(tc.maxAge, "2d", "48h", 1)); ma != nil && ma.Seconds != d.Seconds() {
				t.Errorf("max_age.seconds = %v, want %v", ma.Seconds, d.Seconds())
			}
		})
	}
	for _, bad := range []string{"0s", "-1h", "soon"} {
		if code, _, errOut := mbackup(t, "status", "--max-age", bad); code != exitUsage || !strings.Contains(errOut, "max-age") {
			t.Errorf("status --max-age %s exited %d:\n%s", bad, code, errOut)
		}
	}
	checkKeys(t, "status --json", seen, statusKeys, true)
}

// snapshotOf returns the manifest of snapshot id.
func snapshotOf(t *testing.T, cfg, id string) *snapshot.Manifest {
	t.Helper()
	_, out, _ := mbackup(t, "--config", cfg, "list", "--json")
	var entries []listEntry
	json.Unmarshal([]byte(out), &entries)
	for _, e := range entries {
		if e.ID == id && e.Manifest != nil {
			return e.Manifest
		}
	}
	t.Fatalf("no snapshot %s in:\n%s", id, out)
	return nil
}

// restorePlanKeys are those of restore --dry-run --json (TestRestoreDryRun).
var restorePlanKeys = []string{"snapshot", "host", "status", "taken", "clean", "staging", "steps", "steps[].name", "steps[].component",
	"steps[].artifact", "steps[].key", "steps[].database", "steps[].does", "steps[].plain_bytes", "steps[].stored_bytes",
	"preflight", "preflight.ok", "preflight.seconds", "preflight.problems", "preflight.notes"}
