package retention

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"mbackup/internal/b2test"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/storage/b2"
)

// lockedB2 is a b2 store on a bucket with Object Lock and a default
// retention of 15 days in governance mode, its key restricted to caps,
// and the server's clock, which starts at pruneNow.
func lockedB2(t *testing.T, caps ...string) (*b2.Store, *b2test.Server, *clock) {
	t.Helper()
	srv := b2test.New(t)
	c := &clock{t: pruneNow}
	srv.SetNow(c.now)
	srv.CreateLockedBucket("backups", b2test.Governance, 15)
	srv.RestrictKey("backups", caps...)
	s, err := b2.New(context.Background(), b2.Config{
		KeyID: srv.KeyID, AppKey: srv.AppKey, Bucket: "backups", Prefix: "mastodon/",
		ChunkSize: b2.MinChunkSize, APIBase: srv.URL, Lock: b2.Lock{Mode: b2.Governance, Days: 15},
		CallTimeout: 10 * time.Second, StallTimeout: 10 * time.Second, UploadRetries: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, srv, c
}

// clock is a settable time for the server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

var (
	lockCaps   = []string{"listFiles", "readFiles", "writeFiles", "deleteFiles", "readFileRetentions", "writeFileRetentions", "readBucketRetentions"}
	editedDown = Policy{KeepWithin: 24 * time.Hour, KeepLast: 1}
)

// deletions are the b2_delete_file_version and b2_hide_file calls srv saw.
func deletions(srv *b2test.Server) []string {
	var out []string
	for _, r := range srv.Requests() {
		if r.Method == "b2_delete_file_version" || r.Method == "b2_hide_file" {
			out = append(out, r.Method+" "+r.Name)
		}
	}
	return out
}

// takeAt commits a complete snapshot dated at.
func takeAt(t *testing.T, s storage.Store, at time.Time) string {
	t.Helper()
	id, _ := age.GenerateX25519Identity()
	tk := &snapshot.Taker{
		Store: s, Recipients: []age.Recipient{id.Recipient()}, RecipientIDs: []string{id.Recipient().String()},
		Host: "test", Tool: "mbackup test", Now: func() time.Time { return at },
	}
	m, err := tk.Take(context.Background(), []snapshot.Job{
		{Component: "postgres", Name: "globals", Ext: ".sql", Produce: shell("echo CREATE ROLE mastodon")},
		{Component: "postgres", Name: "mastodon_production", Ext: ".dump", Produce: shell("seq 1 20000")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// TestPruneLockedBucket: a policy edited down to keep_last 1, keep_within
// 1d (what whoever holds the host would do) deletes nothing inside the
// lock: every snapshot in it stays listed and whole, each reported locked
// until its retain-until, the leftovers of an interrupted run too, and no
// deletion of them is even tried; a dry run tells the same. A snapshot whose lock has ended (its
// upload 16 days ago, for 15 days) is deleted: what a later prune does.
func TestPruneLockedBucket(t *testing.T) {
	s, srv, clk := lockedB2(t, lockCaps...)
	day := 24 * time.Hour
	now := time.Now().UTC().Truncate(time.Second) // the store judges locks by its own clock
	clk.set(now.Add(-16 * day))
	ended := takeAt(t, s, now.Add(-16*day))
	clk.set(now)
	old, older := takeAt(t, s, now.Add(-3*day)), takeAt(t, s, now.Add(-2*day))
	garbage := snapshot.NewID(now.Add(-2 * day))
	for _, name := range []string{"globals", "mastodon_production"} {
		if _, err := s.Put(context.Background(), snapshot.ArtifactKey(garbage, "postgres", name, ".dump"), strings.NewReader("half a dump")); err != nil {
			t.Fatal(err)
		}
	}
	newest := takeAt(t, s, now.Add(-time.Hour))
	before := statuses(t, s)
	until := now.Add(15 * day)
	want := []Locked{{ID: old, Until: until, Snapshot: true}, {ID: older, Until: until, Snapshot: true}, {ID: garbage, Until: until}}
	dry, err := Prune(context.Background(), PruneOptions{Store: s, Policy: editedDown, Now: now, DryRun: true})
	if err != nil || !slices.Equal(dry.Locked, want) || !slices.Equal(dry.Deleted, []string{ended}) || len(deletions(srv)) != 0 {
		t.Errorf("dry run: %v: locked %+v, deleted %v, deletions %v", err, dry.Locked, dry.Deleted, deletions(srv))
	}
	var log bytes.Buffer
	rep, err := Prune(context.Background(), PruneOptions{Store: s, Policy: editedDown, Now: now, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Locked, want) || !slices.Equal(rep.Deleted, []string{ended}) || len(rep.Garbage) != 0 || rep.Hidden {
		t.Errorf("report: locked %+v, deleted %v, garbage %v", rep.Locked, rep.Deleted, rep.Garbage)
	}
	for _, d := range deletions(srv) {
		if !strings.Contains(d, ended) {
			t.Errorf("a deletion tried inside the lock: %v", d)
		}
	}
	if after := statuses(t, s); !slices.Equal(after, slices.DeleteFunc(before, func(e string) bool { return strings.HasPrefix(e, ended) })) ||
		!slices.Contains(after, newest+" "+StatusComplete) || len(after) != 4 {
		t.Errorf("listed after the prune:\n%v\nbefore:\n%v", after, before)
	}
	stamp := until.Format(time.RFC3339)
	for _, w := range []string{"snapshot " + old + " locked until " + stamp + ": older than 1d", "left whole; a later prune deletes it",
		"leftovers of " + garbage + " locked until " + stamp + ": interrupted run", "deleted snapshot " + ended} {
		if !strings.Contains(log.String(), w) {
			t.Errorf("the log lacks %q:\n%s", w, log.String())
		}
	}
}

// storeOnly is the b2 store seen through storage.Store alone, as a store
// that keeps no versions is: only Delete's LockedError tells of a lock.
type storeOnly struct{ storage.Store }

// TestPruneLockedManifestKeepsArtifacts: where only Delete tells of the
// lock, a locked manifest stops the deletion of its snapshot there: none
// of its artifacts is touched, and the snapshot is reported locked.
func TestPruneLockedManifestKeepsArtifacts(t *testing.T) {
	s, srv, clk := lockedB2(t, lockCaps...)
	now := time.Now().UTC().Truncate(time.Second)
	clk.set(now)
	old := takeAt(t, s, now.Add(-3*24*time.Hour))
	takeAt(t, s, now.Add(-time.Hour))
	var log bytes.Buffer
	rep, err := Prune(context.Background(), PruneOptions{Store: storeOnly{s}, Policy: editedDown, Now: now, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Locked) != 1 || rep.Locked[0].ID != old || !rep.Locked[0].Snapshot || len(rep.Deleted) != 0 {
		t.Errorf("report: locked %+v, deleted %v", rep.Locked, rep.Deleted)
	}
	for _, d := range deletions(srv) {
		if !strings.HasSuffix(d, snapshot.ManifestKey(old)) {
			t.Errorf("an artifact of a snapshot with a locked manifest was touched: %s", d)
		}
	}
	for _, k := range []string{"postgres/globals.sql.zst.age", "postgres/mastodon_production.dump.zst.age"} {
		if _, err := s.Stat(context.Background(), snapshot.Root+old+"/"+k); err != nil {
			t.Errorf("artifact %s: %v", k, err)
		}
	}
	if !strings.Contains(log.String(), "snapshot "+old+" locked until "+now.Add(15*24*time.Hour).Format(time.RFC3339)) {
		t.Errorf("log:\n%s", log.String())
	}
}

// TestPruneHides: with a key without deleteFiles, prune hides what the
// policy drops, locked or not, and says so; nothing is deleted.
func TestPruneHides(t *testing.T) {
	s, srv, _ := lockedB2(t, "listFiles", "readFiles", "writeFiles", "readFileRetentions", "writeFileRetentions")
	day := 24 * time.Hour
	old := take(t, s, 3*day, StatusComplete)
	newest := take(t, s, time.Hour, StatusComplete)
	var log bytes.Buffer
	rep, err := Prune(context.Background(), PruneOptions{Store: s, Policy: editedDown, Now: pruneNow, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Hidden || !slices.Equal(rep.Deleted, []string{old}) || len(rep.Locked) != 0 {
		t.Errorf("report: hidden %v, deleted %v, locked %+v", rep.Hidden, rep.Deleted, rep.Locked)
	}
	for _, d := range deletions(srv) {
		if !strings.HasPrefix(d, "b2_hide_file ") {
			t.Errorf("not a hide: %s", d)
		}
	}
	if got := statuses(t, s); !slices.Equal(got, []string{newest + " " + StatusComplete}) {
		t.Errorf("listed: %v", got)
	}
	if !strings.Contains(log.String(), "hid snapshot "+old+": older than 1d") {
		t.Errorf("log:\n%s", log.String())
	}
	if n := len(srv.Versions("backups")); n < 6 {
		t.Errorf("%d versions left: a hide deletes none", n)
	}
}

// TestPruneLockUnreadable: with a key that may not read retentions, only
// B2's refusal tells of the lock: the snapshot is reported locked, until
// an unknown date, and none of its artifacts is deleted.
func TestPruneLockUnreadable(t *testing.T) {
	s, srv, clk := lockedB2(t, "listFiles", "readFiles", "writeFiles", "deleteFiles", "writeFileRetentions", "readBucketRetentions")
	now := time.Now().UTC().Truncate(time.Second)
	clk.set(now)
	old := takeAt(t, s, now.Add(-3*24*time.Hour))
	takeAt(t, s, now.Add(-time.Hour))
	var log bytes.Buffer
	rep, err := Prune(context.Background(), PruneOptions{Store: s, Policy: editedDown, Now: now, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Locked, []Locked{{ID: old, Snapshot: true}}) || len(rep.Deleted) != 0 {
		t.Errorf("report: locked %+v, deleted %v", rep.Locked, rep.Deleted)
	}
	for _, d := range deletions(srv) {
		if !strings.HasSuffix(d, snapshot.ManifestKey(old)) {
			t.Errorf("an artifact of a snapshot with a locked manifest was touched: %s", d)
		}
	}
	if !strings.Contains(log.String(), "snapshot "+old+" locked (until when, this key may not read: it lacks readFileRetentions)") {
		t.Errorf("log:\n%s", log.String())
	}
}
