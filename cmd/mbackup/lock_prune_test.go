package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"mbackup/internal/b2test"
	"mbackup/internal/config"
	"mbackup/internal/dump"
	"mbackup/internal/retention"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/storage/configured"
)

// b2Setup is setup's configuration on a b2 store on srv (bucket backups,
// prefix mastodon/), with storage lines added (such as a lock) and more
// appended at the end.
func b2Setup(t *testing.T, srv *b2test.Server, storageLines, more string) (dir, cfg string) {
	t.Helper()
	dir, cfg = setup(t, "  databases: [postgres]\n")
	os.WriteFile(filepath.Join(dir, "b2.key"), []byte(srv.AppKey), 0o600)
	text, _ := os.ReadFile(cfg)
	text = bytes.Replace(text, []byte("storage:\n  type: local\n  path: "+filepath.Join(dir, "store")+"\n"), []byte(fmt.Sprintf(
		"storage:\n  type: b2\n  endpoint: %s\n  bucket: backups\n  prefix: mastodon/\n  key_id: %s\n  application_key_file: b2.key\n%s",
		srv.URL, srv.KeyID, storageLines)), 1)
	if err := os.WriteFile(cfg, append(text, more...), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

// takeInto commits a snapshot dated at into the store cfg names, without
// the sources: what the daemon left there on earlier days.
func takeInto(t *testing.T, cfg string, at time.Time) string {
	t.Helper()
	c, _, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	err = configured.With(context.Background(), c.Storage, func(s storage.Store) error {
		r, _ := age.GenerateX25519Identity()
		tk := &snapshot.Taker{Store: s, Recipients: []age.Recipient{r.Recipient()}, RecipientIDs: []string{r.Recipient().String()},
			Host: "test-host", Tool: "mbackup test", Now: func() time.Time { return at }}
		m, err := tk.Take(context.Background(), []snapshot.Job{{Component: "postgres", Name: "globals", Ext: ".sql",
			Produce: func(_ context.Context, w io.Writer) (dump.Info, error) {
				_, err := io.WriteString(w, "CREATE ROLE mastodon;\n")
				return dump.Info{Command: "test"}, err
			}}})
		if m != nil {
			id = m.ID
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestLockPrune: on a locked bucket, a policy edited down to keep_last 1,
// keep_within 1d deletes nothing inside the lock; prune says what is
// locked until when, on its lines, its summary and --json, and exits 0;
// list still shows every snapshot.
func TestLockPrune(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateLockedBucket("backups", b2test.Governance, 15)
	_, cfg := b2Setup(t, srv, "  lock: {mode: governance, days: 15}\n", "retention:\n  keep_within: 1d\n  keep_last: 1\n")
	now := time.Now().UTC()
	old, older := takeInto(t, cfg, now.Add(-72*time.Hour)), takeInto(t, cfg, now.Add(-48*time.Hour))
	newest := takeInto(t, cfg, now.Add(-time.Hour))

	code, out, errOut := mbackup(t, "--config", cfg, "prune")
	t.Logf("prune:\n%s%s", out, errOut)
	if code != exitOK {
		t.Fatalf("prune exited %d", code)
	}
	for _, w := range []string{"snapshot " + old + " locked until ", "snapshot " + older + " locked until ",
		"pruned 0 snapshots and 0 interrupted runs", "; kept 1; 🔒 2 snapshots locked until " + now.Add(15*24*time.Hour).Format("2006-01-02"),
		"at the latest (a later prune deletes them)"} {
		if !strings.Contains(out, w) {
			t.Errorf("prune does not say %q", w)
		}
	}
	code, out, _ = mbackup(t, "--config", cfg, "prune", "--json")
	var doc pruneJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != exitOK {
		t.Fatalf("prune --json exited %d: %v\n%s", code, err, out)
	}
	if len(doc.Locked) != 2 || doc.Locked[0].ID != old || !doc.Locked[0].Snapshot || doc.Locked[1].ID != older ||
		doc.Locked[0].Until.Before(now.Add(15*24*time.Hour-time.Minute)) || len(doc.Deleted) != 0 || doc.Hidden {
		t.Errorf("prune --json: locked %+v, deleted %v, hidden %v", doc.Locked, doc.Deleted, doc.Hidden)
	}
	code, out, _ = mbackup(t, "--config", cfg, "list")
	for _, id := range []string{old, older, newest} {
		if code != exitOK || !strings.Contains(out, id) {
			t.Errorf("list exited %d without %s:\n%s", code, id, out)
		}
	}
}

// TestLockPruneHides: with a key without deleteFiles, prune hides and its
// summary says that B2's lifecycle rule deletes after the lock ends.
func TestLockPruneHides(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateLockedBucket("backups", b2test.Governance, 15)
	srv.RestrictKey("backups", "listFiles", "readFiles", "writeFiles", "readFileRetentions", "writeFileRetentions", "readBucketRetentions")
	_, cfg := b2Setup(t, srv, "  lock: {mode: governance, days: 15}\n", "retention:\n  keep_within: 1d\n  keep_last: 1\n")
	now := time.Now().UTC()
	old := takeInto(t, cfg, now.Add(-72*time.Hour))
	takeInto(t, cfg, now.Add(-time.Hour))
	code, out, errOut := mbackup(t, "--config", cfg, "prune")
	t.Logf("prune:\n%s%s", out, errOut)
	if code != exitOK || !strings.Contains(out, "hid snapshot "+old) ||
		!strings.Contains(out, "pruned 1 snapshot and 0 interrupted runs (") ||
		!strings.Contains(out, "; hidden, B2's lifecycle rule deletes them after the lock ends); kept 1") {
		t.Errorf("prune exited %d", code)
	}
	if srv.Count("b2_delete_file_version") != 0 || srv.Count("b2_hide_file") == 0 {
		t.Errorf("%d deletions, %d hides", srv.Count("b2_delete_file_version"), srv.Count("b2_hide_file"))
	}
}

// TestLockCheckJSON: check --json names the lock, with the shortest days
// the configuration allows, and the lock lines among its checks.
func TestLockCheckJSON(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	_, cfg := b2Setup(t, srv, "  lock: {mode: compliance, days: 16}\n", "")
	code, out, _ := mbackup(t, "--config", cfg, "check", "--json")
	var doc checkJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if code != exitError || doc.Lock == nil || *doc.Lock != (checkLockJSON{Mode: "compliance", Days: 16, MinDays: 15}) {
		t.Errorf("check --json exited %d, lock %+v", code, doc.Lock)
	}
	found := false
	for _, c := range doc.Checks {
		if c.What == "storage b2 lock" && c.Level == "fail" && strings.Contains(c.Message, "has no Object Lock") &&
			strings.Contains(c.Fix, "--file-lock-enabled") {
			found = true
		}
	}
	if !found {
		t.Errorf("no failed lock check for a bucket without lock:\n%s", out)
	}
}

// TestLockPruneSummary: the summary line, which the daemon's Slack message
// carries, names what the lock kept and until when at the latest, and
// what a hiding key did.
func TestLockPruneSummary(t *testing.T) {
	until := time.Date(2026, 12, 17, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		rep    retention.PruneReport
		dryRun bool
		want   string
	}{
		{retention.PruneReport{Locked: []retention.Locked{{ID: "a", Until: until.Add(-time.Hour), Snapshot: true}, {ID: "b", Until: until, Snapshot: true}}},
			false, "pruned 0 snapshots and 0 interrupted runs (0 B); kept 0; 🔒 2 snapshots locked until 2026-12-17 09:00 UTC at the latest (a later prune deletes them)"},
		{retention.PruneReport{Deleted: []string{"c"}, Locked: []retention.Locked{{ID: "c", Until: until}, {ID: "d", Until: until}}},
			false, "pruned 1 snapshot and 0 interrupted runs (0 B); kept 0; 🔒 the leftovers of 2 runs locked until 2026-12-17 09:00 UTC at the latest (a later prune deletes them)"},
		{retention.PruneReport{Deleted: []string{"e"}, Hidden: true, Bytes: 2048},
			false, "pruned 1 snapshot and 0 interrupted runs (2.0 KiB; hidden, B2's lifecycle rule deletes them after the lock ends); kept 0"},
		{retention.PruneReport{Deleted: []string{"e"}, Hidden: true}, true, "would prune 1 snapshot and 0 interrupted runs (0 B); kept 0"},
		{retention.PruneReport{Locked: []retention.Locked{{ID: "f", Snapshot: true}}}, false,
			"pruned 0 snapshots and 0 interrupted runs (0 B); kept 0; 🔒 1 snapshot locked (a later prune deletes them)"},
	} {
		if got := pruneSummary(c.rep, c.dryRun); got != c.want {
			t.Errorf("summary\n%s\nwant\n%s", got, c.want)
		}
	}
}
