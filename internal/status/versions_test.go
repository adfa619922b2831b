package status

import (
	"context"
	"strings"
	"testing"
	"time"

	blazer "github.com/Backblaze/blazer/b2"

	"mbackup/internal/b2test"
	"mbackup/internal/config"
	"mbackup/internal/lock"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage/b2"
)

// TestGatherVersions: on a b2 store, a snapshot hidden inside
// retention.keep_within and one whose manifest was uploaded again are
// reported, with the command to see them, from one listing of the
// versions; a hidden snapshot older than keep_within (a prune's doing, with
// a key that hides) is not.
func TestGatherVersions(t *testing.T) {
	ctx := context.Background()
	srv := b2test.New(t)
	srv.CreateLockedBucket("backups", "governance", 15)
	s, err := b2.New(ctx, b2.Config{KeyID: srv.KeyID, AppKey: srv.AppKey, Bucket: "backups", APIBase: srv.URL, CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := blazer.NewClient(ctx, srv.KeyID, srv.AppKey, blazer.APIBase(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	bk, err := c.Bucket(ctx, "backups")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ids := map[string]string{}
	for name, ago := range map[string]time.Duration{"hidden": time.Hour, "over": 2 * time.Hour, "old": 30 * 24 * time.Hour, "fine": 3 * time.Hour} {
		ids[name] = snapshot.NewID(now.Add(-ago))
		if _, err := s.Put(ctx, snapshot.ManifestKey(ids[name]), strings.NewReader("{}")); err != nil {
			t.Fatal(err)
		}
	}
	s.Put(ctx, snapshot.ManifestKey(ids["over"]), strings.NewReader(`{"forged": true}`))
	for _, n := range []string{"hidden", "old"} {
		if err := bk.Object(snapshot.ManifestKey(ids[n])).Hide(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &config.Config{Storage: config.Storage{Type: config.StorageB2}, Retention: config.Retention{KeepWithin: config.Duration(14 * 24 * time.Hour)}}
	locks := func(config.Storage) (lock.Place, error) { return lock.Place{}, nil }
	before := srv.Count("b2_list_file_versions")
	r, err := Gather(ctx, cfg, s, locks, now)
	if err != nil {
		t.Fatal(err)
	}
	v := r.Versions
	if v == nil || len(v.Hidden) != 1 || v.Hidden[0] != ids["hidden"] || len(v.Overwritten) != 1 || v.Overwritten[0] != ids["over"] {
		t.Fatalf("Versions = %+v", v)
	}
	for _, want := range []string{"1 snapshot exists only as hidden versions", "1 snapshot's manifest has several uploaded versions", "mbackup list --all-versions"} {
		if !strings.Contains(v.Line, want) {
			t.Errorf("line %q lacks %q", v.Line, want)
		}
	}
	if n := srv.Count("b2_list_file_versions") - before; n != 1 {
		t.Errorf("%d version listings, want 1", n)
	}

	// Nothing hidden or overwritten: no line.
	srv2 := b2test.New(t)
	srv2.CreateBucket("backups")
	s2, err := b2.New(ctx, b2.Config{KeyID: srv2.KeyID, AppKey: srv2.AppKey, Bucket: "backups", APIBase: srv2.URL, CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s2.Put(ctx, snapshot.ManifestKey(ids["fine"]), strings.NewReader("{}"))
	if r, err := Gather(ctx, cfg, s2, locks, now); err != nil || r.Versions == nil || r.Versions.Line != "" || len(r.Versions.Hidden) != 0 {
		t.Errorf("an untouched store: %+v %v", r.Versions, err)
	}
	srv2.Inject("b2_list_file_versions", b2test.Fault{Status: 500, Times: 100})
	if _, err := Gather(ctx, cfg, s2, locks, now); err == nil {
		t.Error("a failed listing of the versions was not an error")
	}
}
