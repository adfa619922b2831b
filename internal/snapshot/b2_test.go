package snapshot

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"mbackup/internal/b2test"
	"mbackup/internal/dump"
	"mbackup/internal/storage/b2"
)

// newB2Taker returns a Taker on a b2 store on the fake B2 server, with
// 5 MB chunks and a 2 s stall watchdog.
func newB2Taker(t *testing.T) (*Taker, *b2test.Server, *age.X25519Identity) {
	t.Helper()
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	s, err := b2.New(context.Background(), b2.Config{
		KeyID: srv.KeyID, AppKey: srv.AppKey, Bucket: "backups", Prefix: "mastodon/",
		ChunkSize: 5_000_000, ConcurrentUploads: 2, APIBase: srv.URL,
		CallTimeout: 5 * time.Second, StallTimeout: 2 * time.Second, UploadRetries: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	id, _ := age.GenerateX25519Identity()
	return &Taker{Store: s, Recipients: []age.Recipient{id.Recipient()}, RecipientIDs: []string{id.Recipient().String()}, Host: "test", Tool: "mbackup test"}, srv, id
}

func TestTakeIntoB2(t *testing.T) {
	tk, srv, id := newB2Taker(t)
	jobs := []Job{
		{Component: "postgres", Name: "globals", Ext: ".sql", Produce: shell("echo CREATE ROLE mastodon")},
		{Component: "postgres", Name: "mastodon_production", Ext: ".dump", Produce: shell("head -c 12000000 /dev/urandom")},
		{Component: "redis", Name: "main", Ext: ".rdb", Produce: shell("seq 1 100000")},
	}
	m, err := tk.Take(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(context.Background(), tk.Store, m, id); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, f := range srv.Versions("backups") {
		seen[f.Name]++
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("%s has %d versions; every snapshot key is written once", name, n)
		}
	}
	if len(seen) != 4 || srv.Count("b2_upload_part") != 3 {
		t.Errorf("%d objects, %d parts; want 3 artifacts + manifest, one 3-part large file", len(seen), srv.Count("b2_upload_part"))
	}
}

// TestUploadHostHangsDuringTake: the upload host stops answering while a
// large artifact streams. That artifact fails within the stall timeout, its
// producer is killed, nothing of it is visible, and the snapshot is partial.
func TestUploadHostHangsDuringTake(t *testing.T) {
	tk, srv, _ := newB2Taker(t)
	srv.Inject("b2_upload_part", b2test.Fault{Hang: true})
	// An empty file of this test's own directory marks its producer's
	// command line: pgrep must not find another run's producer (a second
	// test suite running beside this one on the same machine).
	marker := filepath.Join(t.TempDir(), "producer-marker")
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	jobs := []Job{
		{Component: "postgres", Name: "big", Ext: ".dump", Produce: shell("head -q -c 40000000 /dev/urandom " + marker + "; echo 'not killed' >&2")},
		{Component: "redis", Name: "main", Ext: ".rdb", Produce: shell("echo small")},
	}
	start := time.Now()
	m, err := tk.Take(context.Background(), jobs)
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("Take = %v", err)
	}
	t.Logf("partial snapshot after %v: %s", time.Since(start).Round(time.Millisecond), m.Failed[0].Reason)
	if !strings.Contains(m.Failed[0].Reason, "stalled") {
		t.Errorf("reason %q does not say the upload stalled", m.Failed[0].Reason)
	}
	if _, err := tk.Store.Stat(context.Background(), ArtifactKey(m.ID, "postgres", "big", ".dump")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed artifact is visible: %v", err)
	}
	if out, _ := exec.Command("pgrep", "-f", marker).Output(); len(out) > 0 {
		t.Errorf("the producer is still running: pid %s", out)
	}
}

// TestManifestUploadFails: every artifact is stored but the manifest cannot
// be: no snapshot exists, and List shows the leftovers as incomplete.
func TestManifestUploadFails(t *testing.T) {
	tk, srv, _ := newB2Taker(t)
	srv.Inject("b2_upload_file", b2test.Fault{Status: 503})
	jobs := []Job{{Component: "postgres", Name: "db", Ext: ".dump", Produce: shell("head -c 6000000 /dev/urandom")}}
	m, err := tk.Take(context.Background(), jobs)
	if err == nil || m != nil || !strings.Contains(err.Error(), "commit") {
		t.Fatalf("Take = %+v, %v; want a failed commit", m, err)
	}
	srv.ClearFaults()
	entries, err := List(context.Background(), tk.Store)
	if err != nil || len(entries) != 1 || entries[0].Status != StatusIncomplete {
		t.Fatalf("List = %+v, %v", entries, err)
	}
}

// TestStoreRefusesMidway: B2 accepts the first part of a large artifact and
// refuses the rest (403). The artifact fails with B2's reason, its producer
// is stopped, nothing of it stays visible or unfinished, and the other
// artifact is committed in a partial snapshot.
func TestStoreRefusesMidway(t *testing.T) {
	tk, srv, _ := newB2Taker(t)
	refusing := func(ctx context.Context, w io.Writer) (dump.Info, error) {
		noise := make([]byte, 12_000_000) // incompressible: zstd must not shrink it below a part
		rand.Read(noise)
		if _, err := w.Write(noise); err != nil {
			return dump.Info{}, err
		}
		for wait := time.Now(); srv.Count("b2_upload_part") == 0; time.Sleep(5 * time.Millisecond) {
			if time.Since(wait) > time.Minute {
				return dump.Info{}, errors.New("the first part was never sent")
			}
		}
		srv.Inject("b2_upload_part", b2test.Fault{Status: 403})
		return shell("head -c 30000000 /dev/urandom")(ctx, w)
	}
	jobs := []Job{
		{Component: "postgres", Name: "big", Ext: ".dump", Produce: refusing},
		{Component: "mysql", Name: "blog", Ext: ".sql", Produce: shell("echo small")},
	}
	m, err := tk.Take(context.Background(), jobs)
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("Take = %v", err)
	}
	if len(m.Failed) != 1 || !strings.Contains(m.Failed[0].Reason, "403") {
		t.Errorf("failed %+v; want the big artifact with B2's 403", m.Failed)
	}
	if _, err := tk.Store.Stat(context.Background(), ArtifactKey(m.ID, "postgres", "big", ".dump")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused artifact is visible: %v", err)
	}
	if u := srv.Unfinished("backups"); len(u) != 0 {
		t.Errorf("%d unfinished large files left", len(u))
	}
	if len(m.Artifacts) != 1 || m.Artifacts[0].Name != "blog" {
		t.Errorf("artifacts %+v", m.Artifacts)
	}
}
