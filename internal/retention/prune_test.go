package retention

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"mbackup/internal/b2test"
	"mbackup/internal/dump"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/storage/b2"
	"mbackup/internal/storage/local"
)

var (
	pruneNow    = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	prunePolicy = Policy{KeepWithin: 14 * 24 * time.Hour, KeepLast: 2}
)

func newLocal(t *testing.T) storage.Store {
	t.Helper()
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newB2(t *testing.T) (*b2.Store, *b2test.Server) {
	t.Helper()
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	s, err := b2.New(context.Background(), b2.Config{
		KeyID: srv.KeyID, AppKey: srv.AppKey, Bucket: "backups", Prefix: "mastodon/",
		ChunkSize: b2.MinChunkSize, APIBase: srv.URL,
		CallTimeout: 10 * time.Second, StallTimeout: 10 * time.Second, UploadRetries: 2, // no test here hangs a call: no short watchdog to trip under load
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, srv
}

// shell produces an artifact from a real process's stdout.
func shell(script string) func(context.Context, io.Writer) (dump.Info, error) {
	return func(ctx context.Context, w io.Writer) (dump.Info, error) {
		cmd := exec.CommandContext(ctx, "sh", "-c", script)
		cmd.Stdout = w
		if err := cmd.Run(); err != nil {
			return dump.Info{}, fmt.Errorf("sh: %w", err)
		}
		return dump.Info{Command: "sh -c " + script}, nil
	}
}

// take commits a snapshot dated ago before pruneNow: complete, or partial
// with a refused Redis.
func take(t *testing.T, s storage.Store, ago time.Duration, status string) string {
	t.Helper()
	id, _ := age.GenerateX25519Identity()
	tk := &snapshot.Taker{
		Store: s, Recipients: []age.Recipient{id.Recipient()}, RecipientIDs: []string{id.Recipient().String()},
		Host: "test", Tool: "mbackup test", Now: func() time.Time { return pruneNow.Add(-ago) },
	}
	jobs := []snapshot.Job{
		{Component: "postgres", Name: "globals", Ext: ".sql", Produce: shell("echo CREATE ROLE mastodon")},
		{Component: "postgres", Name: "mastodon_production", Ext: ".dump", Produce: shell("seq 1 20000")},
	}
	if status == StatusPartial {
		jobs = append(jobs, snapshot.Job{Component: "redis", Name: "main", Err: errors.New("connection refused")})
	}
	m, err := tk.Take(context.Background(), jobs)
	if m == nil || m.Status != status {
		t.Fatalf("take: %v, %v; want a %s snapshot", m, err, status)
	}
	return m.ID
}

// leftovers stores what an interrupted run dated ago before pruneNow leaves:
// artifacts and no manifest.
func leftovers(t *testing.T, s storage.Store, ago time.Duration) string {
	t.Helper()
	id := snapshot.NewID(pruneNow.Add(-ago))
	for _, name := range []string{"globals", "mastodon_production"} {
		if _, err := s.Put(context.Background(), snapshot.ArtifactKey(id, "postgres", name, ".dump"), strings.NewReader("half a dump")); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

func allKeys(t *testing.T, s storage.Store) []string {
	t.Helper()
	var keys []string
	if err := s.List(context.Background(), "", func(o storage.Object) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// statuses returns "id status" for every listed entry, newest first.
func statuses(t *testing.T, s storage.Store) []string {
	t.Helper()
	entries, err := snapshot.List(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.ID+" "+e.Status)
	}
	return out
}

// fixture is a store holding, oldest first: complete 20d, complete 19d,
// partial 18d, complete 16d, an interrupted run 3d, complete 1d and an
// interrupted run 2h ago. With prunePolicy the first three snapshots and
// the 3-day-old leftovers go.
type fixture struct {
	old, older, partial, kept16d, garbage, young, running string
}

func newFixture(t *testing.T, s storage.Store) fixture {
	day := 24 * time.Hour
	return fixture{
		old: take(t, s, 20*day, StatusComplete), older: take(t, s, 19*day, StatusComplete),
		partial: take(t, s, 18*day, StatusPartial), kept16d: take(t, s, 16*day, StatusComplete),
		garbage: leftovers(t, s, 3*day), young: take(t, s, day, StatusComplete),
		running: leftovers(t, s, 2*time.Hour),
	}
}

func TestPruneDryRunDeletesNothing(t *testing.T) {
	s := newLocal(t)
	f := newFixture(t, s)
	before := allKeys(t, s)
	var log bytes.Buffer
	rep, err := Prune(context.Background(), PruneOptions{Store: s, Policy: prunePolicy, Now: pruneNow, DryRun: true, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if after := allKeys(t, s); !slices.Equal(before, after) {
		t.Errorf("dry run changed the store:\nbefore %q\nafter  %q", before, after)
	}
	if want := []string{f.old, f.older, f.partial}; !slices.Equal(rep.Deleted, want) || !slices.Equal(rep.Garbage, []string{f.garbage}) {
		t.Errorf("dry run reports deleted %q, garbage %q; want %q, %q", rep.Deleted, rep.Garbage, want, f.garbage)
	}
	if rep.Kept() != 2 || rep.Objects != 3*3+2 {
		t.Errorf("kept %d, objects %d", rep.Kept(), rep.Objects)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "would delete snapshot "+f.old+": older than 14d, not among the newest 2 complete") ||
		!strings.HasPrefix(lines[3], "would delete interrupted run "+f.garbage+" (2 objects): no manifest, started 3d ago") ||
		lines[4] != "would cancel unfinished uploads started more than 1d ago" {
		t.Errorf("log:\n%s", log.String())
	}
}

func TestPruneLocal(t *testing.T) {
	s := newLocal(t)
	f := newFixture(t, s)
	var log bytes.Buffer
	rep, err := Prune(context.Background(), PruneOptions{Store: s, Policy: prunePolicy, Now: pruneNow, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{f.running + " incomplete", f.young + " complete", f.kept16d + " complete"}
	if got := statuses(t, s); !slices.Equal(got, want) {
		t.Errorf("after prune %q; want %q", got, want)
	}
	if !slices.Equal(rep.Deleted, []string{f.old, f.older, f.partial}) || !slices.Equal(rep.Garbage, []string{f.garbage}) ||
		rep.Objects != 3*3+2 || rep.Unfinished != 0 || rep.Bytes == 0 {
		t.Errorf("report %+v", rep)
	}
	if n := strings.Count(log.String(), "\ndeleted "); !strings.HasPrefix(log.String(), "deleted snapshot "+f.old+": ") || n != 3 {
		t.Errorf("log:\n%s", log.String())
	}
	// A second run finds nothing more to do.
	rep, err = Prune(context.Background(), PruneOptions{Store: s, Policy: prunePolicy, Now: pruneNow})
	if err != nil || len(rep.Deleted)+len(rep.Garbage)+rep.Objects != 0 {
		t.Errorf("second prune: %+v, %v", rep, err)
	}
}

func TestPruneKeepsNewestCompleteAfterWeeksOfFailures(t *testing.T) {
	s := newLocal(t)
	day := 24 * time.Hour
	keep := take(t, s, 40*day, StatusComplete)
	partial := take(t, s, 30*day, StatusPartial)
	garbage := leftovers(t, s, 20*day)
	rep, err := Prune(context.Background(), PruneOptions{Store: s, Policy: Policy{KeepWithin: 14 * day, KeepLast: 1}, Now: pruneNow})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(t, s); !slices.Equal(got, []string{keep + " complete"}) ||
		!slices.Equal(rep.Deleted, []string{partial}) || !slices.Equal(rep.Garbage, []string{garbage}) {
		t.Errorf("after prune %q, report %+v", got, rep)
	}
}

func TestPruneRefusesEmptyPolicy(t *testing.T) {
	s := newLocal(t)
	take(t, s, 30*24*time.Hour, StatusComplete)
	before := allKeys(t, s)
	_, err := Prune(context.Background(), PruneOptions{Store: s, Policy: Policy{KeepWithin: time.Hour}, Now: pruneNow})
	if !errors.Is(err, ErrEmptyPolicy) || !slices.Equal(allKeys(t, s), before) {
		t.Errorf("Prune with keep_last 0 = %v", err)
	}
}

// TestPruneB2ManifestFirst: on B2, every deleted snapshot's manifest goes
// before its other keys, snapshots oldest first; old unfinished large files
// are cancelled.
func TestPruneB2ManifestFirst(t *testing.T) {
	s, srv := newB2(t)
	f := newFixture(t, s)
	leaveUnfinished(t, s, srv, "snapshots/"+f.garbage+"/postgres/big.dump.zst.age")
	rep, err := Prune(context.Background(), PruneOptions{Store: s, Policy: prunePolicy, Now: pruneNow})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Unfinished != 1 || len(srv.Unfinished("backups")) != 0 {
		t.Errorf("cancelled %d unfinished large files, %d left", rep.Unfinished, len(srv.Unfinished("backups")))
	}
	var order []string
	for _, r := range srv.Requests() {
		if r.Method == "b2_delete_file_version" {
			order = append(order, strings.TrimPrefix(r.Name, "mastodon/"+snapshot.Root))
		}
	}
	var want []string
	for _, id := range []string{f.old, f.older, f.partial} {
		want = append(want, id+"/manifest.json")
		for _, k := range []string{"postgres/globals.sql.zst.age", "postgres/mastodon_production.dump.zst.age"} {
			want = append(want, id+"/"+k)
		}
	}
	want = append(want, f.garbage+"/postgres/globals.dump.zst.age", f.garbage+"/postgres/mastodon_production.dump.zst.age")
	if !slices.Equal(order, want) {
		t.Errorf("deletions in order:\n%s\nwant:\n%s", strings.Join(order, "\n"), strings.Join(want, "\n"))
	}
}

// leaveUnfinished leaves an unfinished large file under key, started two
// days ago, the way a Put that cannot cancel it does.
func leaveUnfinished(t *testing.T, s *b2.Store, srv *b2test.Server, key string) {
	t.Helper()
	srv.SetNow(func() time.Time { return time.Now().Add(-48 * time.Hour) })
	srv.Inject("b2_cancel_large_file", b2test.Fault{Status: 400})
	r := io.MultiReader(bytes.NewReader(make([]byte, b2.MinChunkSize+10)), iotestErrReader{})
	if _, err := s.Put(context.Background(), key, r); err == nil {
		t.Fatal("Put of a failing reader succeeded")
	}
	srv.ClearFaults()
	srv.SetNow(nil)
	if len(srv.Unfinished("backups")) != 1 {
		t.Fatal("no unfinished large file left")
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// TestPruneStopsAtFirstError: the second delete of a run fails. The first
// snapshot's manifest is gone (it is no longer listed as complete), and
// nothing is deleted after the error.
func TestPruneStopsAtFirstError(t *testing.T) {
	s, srv := newB2(t)
	f := newFixture(t, s)
	srv.Inject("b2_delete_file_version", b2test.Fault{Times: 1}) // the first delete goes through
	srv.Inject("b2_delete_file_version", b2test.Fault{Status: 503})
	before := len(srv.Versions("backups"))
	var log bytes.Buffer
	rep, err := Prune(context.Background(), PruneOptions{Store: s, Policy: prunePolicy, Now: pruneNow, Log: &log})
	if err == nil || !strings.Contains(err.Error(), "retention: delete snapshot "+f.old+": its manifest is gone") {
		t.Fatalf("Prune = %v; want the error of the second delete", err)
	}
	srv.ClearFaults()
	if !slices.Equal(rep.Deleted, []string{f.old}) || rep.Objects != 1 || len(rep.Garbage) != 0 {
		t.Errorf("report %+v", rep)
	}
	if got := len(srv.Versions("backups")); got != before-1 {
		t.Errorf("%d versions left of %d; want only the manifest deleted", got, before)
	}
	got := statuses(t, s)
	if !slices.Contains(got, f.old+" incomplete") || !slices.Contains(got, f.older+" complete") || !slices.Contains(got, f.garbage+" incomplete") {
		t.Errorf("after the failed prune: %q", got)
	}
	if log.Len() != 0 {
		t.Errorf("logged %q for a deletion that did not finish", log.String())
	}
	// The next run finishes the job, the half-deleted snapshot as garbage.
	rep, err = Prune(context.Background(), PruneOptions{Store: s, Policy: prunePolicy, Now: pruneNow})
	if err != nil || !slices.Equal(rep.Deleted, []string{f.older, f.partial}) || !slices.Equal(rep.Garbage, []string{f.old, f.garbage}) {
		t.Errorf("second prune: %+v, %v", rep, err)
	}
}

func TestPruneListingFailureDeletesNothing(t *testing.T) {
	s, srv := newB2(t)
	newFixture(t, s)
	before := len(srv.Versions("backups"))
	srv.Inject("b2_list_file_names", b2test.Fault{Status: 500, Times: 1})
	srv.Inject("b2_list_file_names", b2test.Fault{Status: 403})
	_, err := Prune(context.Background(), PruneOptions{Store: s, Policy: prunePolicy, Now: pruneNow})
	srv.ClearFaults()
	if err == nil || !strings.HasPrefix(err.Error(), "retention: prune: snapshot: list: ") {
		t.Fatalf("Prune = %v; want the listing error", err)
	}
	if srv.Count("b2_delete_file_version") != 0 || len(srv.Versions("backups")) != before {
		t.Error("a failed listing deleted something")
	}
}

// putManifest stores an artifact and the manifest doc under a new id dated
// ago before pruneNow, as a newer mbackup or a damaged store leaves them.
func putManifest(t *testing.T, s storage.Store, ago time.Duration, doc func(id string) string) string {
	t.Helper()
	id := snapshot.NewID(pruneNow.Add(-ago))
	if _, err := s.Put(context.Background(), snapshot.ArtifactKey(id, "postgres", "mastodon_production", ".dump"), strings.NewReader("dump")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), snapshot.ManifestKey(id), strings.NewReader(doc(id))); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestPruneLeavesUnreadableAndFuture: beside old and new complete
// snapshots, an invalid manifest and a format-2 one (both far older than
// keep_within and the garbage age) and a snapshot dated a year ahead.
// Prune with keep_last 1 deletes only the old complete one: the unreadable
// ones are left alone and reported, the future one is kept and does not
// count, so the real newest complete snapshot stays.
func TestPruneLeavesUnreadableAndFuture(t *testing.T) {
	for name, s := range map[string]storage.Store{"local": newLocal(t), "b2": func() storage.Store { s, _ := newB2(t); return s }()} {
		t.Run(name, func(t *testing.T) {
			day := 24 * time.Hour
			old := take(t, s, 40*day, StatusComplete)
			invalid := putManifest(t, s, 30*day, func(id string) string { return `{"format": 1, "id": "` + id + `", "sta` })
			newer := putManifest(t, s, 20*day, func(id string) string { return `{"format": 2, "id": "` + id + `", "status": "complete"}` })
			real := take(t, s, day, StatusComplete)
			future := take(t, s, -365*day, StatusComplete)
			var log bytes.Buffer
			rep, err := Prune(context.Background(), PruneOptions{Store: s, Policy: Policy{KeepLast: 1}, Now: pruneNow, Log: &log})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{future + " complete", real + " complete", newer + " newer-format", invalid + " unreadable"}
			if got := statuses(t, s); !slices.Equal(got, want) {
				t.Errorf("after prune %q; want %q", got, want)
			}
			if !slices.Equal(rep.Deleted, []string{old}) || len(rep.Garbage) != 0 || !slices.Equal(rep.Unreadable, []string{newer, invalid}) {
				t.Errorf("report %+v", rep)
			}
			for _, id := range []string{invalid, newer} {
				if !strings.Contains(log.String(), "left alone snapshot "+id+": ") {
					t.Errorf("log does not name %s:\n%s", id, log.String())
				}
			}
			for _, d := range rep.Decisions {
				if d.ID == future && (!d.Keep || !strings.HasPrefix(d.Reason, "dated in the future")) ||
					d.ID == real && d.Reason != "newest complete #1 of keep_last 1" {
					t.Errorf("decision %+v", d)
				}
			}
			t.Logf("log:\n%s", log.String())
		})
	}
}
