package shrink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
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

// bytesJob is a job whose producer, a real process, writes n bytes.
func bytesJob(name string, n int) snapshot.Job {
	return snapshot.Job{Component: "postgres", Name: name, Ext: ".dump",
		Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) {
			cmd := exec.CommandContext(ctx, "head", "-c", fmt.Sprint(n), "/dev/zero")
			cmd.Stdout = w
			if err := cmd.Run(); err != nil {
				return dump.Info{}, err
			}
			return dump.Info{Command: "head"}, nil
		}}
}

// taker returns a Taker whose snapshots are dated a minute apart, in the
// past, so that they sort in the order they are taken.
func taker(t *testing.T, s storage.Store) *snapshot.Taker {
	t.Helper()
	id, _ := age.GenerateX25519Identity()
	at := time.Now().Add(-time.Hour)
	return &snapshot.Taker{Store: s, Recipients: []age.Recipient{id.Recipient()},
		RecipientIDs: []string{id.Recipient().String()}, Host: "test", Tool: "mbackup test",
		Now: func() time.Time { at = at.Add(time.Minute); return at }}
}

// take takes one snapshot of a database of n bytes, guarded at threshold.
func take(t *testing.T, tk *snapshot.Taker, threshold, n int) *snapshot.Manifest {
	t.Helper()
	ctx := context.Background()
	g := Prepare(ctx, tk.Store, threshold, time.Now())
	tk.Review = g.Review
	m, err := tk.Take(ctx, []snapshot.Job{bytesJob("mastodon_production", n)})
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := snapshot.Load(ctx, tk.Store, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	return loaded
}

// TestGuard takes real snapshots into a local store: the first is never
// flagged, a 40 % drop is not, a 90 % drop is (in the committed
// manifest), and a disabled guard flags nothing.
func TestGuard(t *testing.T) {
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tk := taker(t, s)
	first := take(t, tk, DefaultThreshold, 4*mib)
	if len(first.Shrunk) != 0 || len(first.Notes) != 0 {
		t.Fatalf("first snapshot: shrunk %v notes %q", first.Shrunk, first.Notes)
	}
	second := take(t, tk, DefaultThreshold, 4*mib*6/10)
	if len(second.Shrunk) != 0 {
		t.Fatalf("a 40%% drop flagged: %+v", second.Shrunk)
	}
	third := take(t, tk, DefaultThreshold, 4*mib*6/100)
	if len(third.Shrunk) != 1 {
		t.Fatalf("a 90%% drop of the previous: shrunk %+v", third.Shrunk)
	}
	if sh := third.Shrunk[0]; sh.Previous != second.ID || sh.BeforeBytes != 4*mib*6/10 || sh.AfterBytes != 4*mib*6/100 {
		t.Errorf("flag %+v, want previous %s", sh, second.ID)
	}
	if off := take(t, tk, 0, 1); len(off.Shrunk) != 0 || len(off.Notes) != 0 {
		t.Errorf("disabled guard: shrunk %v notes %q", off.Shrunk, off.Notes)
	}
}

// TestGuardListingFails: when the store cannot be listed before the run
// (a B2 error on b2_list_file_names), the snapshot is still committed,
// complete, with the note.
func TestGuardListingFails(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	s, err := b2.New(context.Background(), b2.Config{
		KeyID: srv.KeyID, AppKey: srv.AppKey, Bucket: "backups", Prefix: "mastodon/",
		ChunkSize: 5_000_000, ConcurrentUploads: 2, APIBase: srv.URL,
		CallTimeout: 10 * time.Second, StallTimeout: 10 * time.Second, UploadRetries: 3, // nothing hangs here
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tk := taker(t, s)
	take(t, tk, DefaultThreshold, 4*mib)
	srv.Inject("b2_list_file_names", b2test.Fault{Status: 400, Times: 1})
	m := take(t, tk, DefaultThreshold, 1000)
	if m.Status != snapshot.StatusComplete || len(m.Shrunk) != 0 {
		t.Fatalf("status %s, shrunk %+v", m.Status, m.Shrunk)
	}
	if len(m.Notes) != 1 || !strings.HasPrefix(m.Notes[0], NotApplied+"snapshot: list: ") {
		t.Errorf("notes %q", m.Notes)
	}
	if w := Warnings(m); len(w) != 1 || w[0] != m.Notes[0] {
		t.Errorf("warnings %q", w)
	}
}

func TestAccept(t *testing.T) {
	ctx := context.Background()
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	flagged := manifest(curID)
	flagged.Shrunk = []snapshot.Shrink{{Component: "redis", Name: "main", BeforeBytes: 9 * mib, Previous: prevID, Missing: true}}
	if _, err := Accept(ctx, s, manifest(prevID), "root@backup", time.Now()); err == nil || !strings.Contains(err.Error(), "no shrink flagged") {
		t.Errorf("accepting a snapshot without flags: %v", err)
	}
	// Keys under the prefix that are not acceptances are ignored.
	for _, k := range []string{AcceptedRoot + "notes.txt", AcceptedRoot + "x/" + curID + ".json"} {
		if _, err := s.Put(ctx, k, bytes.NewReader([]byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	if ids, err := Accepted(ctx, s); err != nil || len(ids) != 0 {
		t.Fatalf("Accepted before: %v, %v", ids, err)
	}
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	if done, err := Accept(ctx, s, flagged, "root@backup", at); err != nil || !done {
		t.Fatalf("Accept: %v, %v", done, err)
	}
	if done, err := Accept(ctx, s, flagged, "someone@else", at); err != nil || done {
		t.Errorf("accepting again: %v, %v", done, err)
	}
	ids, err := Accepted(ctx, s)
	if err != nil || len(ids) != 1 || !ids[curID] {
		t.Fatalf("Accepted: %v, %v", ids, err)
	}
	rc, err := s.Get(ctx, AcceptedKey(curID))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	for _, want := range []string{`"accepted_by": "root@backup"`, `"previous": [`, prevID, "2026-11-23T08:00:00Z"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("acceptance lacks %s:\n%s", want, b)
		}
	}
	// Nothing about acceptances is listed as a snapshot.
	if entries, err := snapshot.List(ctx, s); err != nil || len(entries) != 0 {
		t.Errorf("snapshot.List: %v, %v", entries, err)
	}
}

// TestAcceptStoreErrors: a store that refuses the write, or the listing,
// fails Accept and Accepted with the cause; nothing is left half written.
func TestAcceptStoreErrors(t *testing.T) {
	ctx := context.Background()
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	s, err := b2.New(ctx, b2.Config{
		KeyID: srv.KeyID, AppKey: srv.AppKey, Bucket: "backups", APIBase: srv.URL,
		CallTimeout: 10 * time.Second, StallTimeout: 10 * time.Second, UploadRetries: 1, // nothing hangs here
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	flagged := manifest(curID)
	flagged.Shrunk = []snapshot.Shrink{{Component: "redis", Name: "main", BeforeBytes: 9 * mib, Previous: prevID, Missing: true}}
	srv.Inject("b2_upload_file", b2test.Fault{Status: 400})
	if _, err := Accept(ctx, s, flagged, "root@backup", time.Now()); err == nil || !strings.HasPrefix(err.Error(), "shrink: accept "+curID+": ") {
		t.Errorf("Accept with uploads refused: %v", err)
	}
	srv.ClearFaults()
	if ids, err := Accepted(ctx, s); err != nil || len(ids) != 0 {
		t.Errorf("after a refused upload: %v, %v", ids, err)
	}
	srv.Inject("b2_list_file_names", b2test.Fault{Status: 400})
	if _, err := Accepted(ctx, s); err == nil || !strings.HasPrefix(err.Error(), "shrink: list acceptances: ") {
		t.Errorf("Accepted with listing refused: %v", err)
	}
}
