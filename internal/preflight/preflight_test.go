package preflight

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mbackup/internal/b2test"
	"mbackup/internal/config"
	"mbackup/internal/snapshot"
)

func TestResultText(t *testing.T) {
	for _, c := range []struct {
		r    Result
		want string
	}{
		{Result{Message: "listable"}, "listable"},
		{Result{Message: "plain HTTP", Fix: "use https://"}, "plain HTTP — use https://"},
	} {
		if got := c.r.Text(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.r, got, c.want)
		}
	}
}

// b2Storage is a storage section for a bucket on srv, with the defaults.
func b2Storage(srv *b2test.Server) config.Storage {
	s := config.Default().Storage
	s.Type, s.Endpoint, s.Bucket, s.KeyID = config.StorageB2, srv.URL, "backups", srv.KeyID
	s.ApplicationKey = config.NewSecret(srv.AppKey)
	s.CallTimeout, s.StallTimeout = config.Duration(10*time.Second), config.Duration(10*time.Second)
	return s
}

// leftUnder lists what srv's bucket holds under prefix, every version.
func leftUnder(srv *b2test.Server, prefix string) []string {
	var names []string
	for _, f := range srv.Versions("backups") {
		if strings.HasPrefix(f.Name, prefix) {
			names = append(names, f.Name+" ("+f.Action+")")
		}
	}
	return names
}

// TestStoreProbe: against B2 the store probe writes, reads back and
// deletes its marker and reports the key and the encryption; when the
// read back fails half-way, the result is Fail and the marker is deleted
// all the same.
func TestStoreProbe(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	srv.SetBucketEncryption("backups", "SSE-B2")
	rs, _ := store(context.Background(), b2Storage(srv))
	want := []Result{
		{What: "storage b2", Level: OK, Message: "listed 0 snapshot(s); wrote, read back and deleted a test object"},
		{What: "storage b2 key", Level: OK, Message: "has listFiles, readFiles, writeFiles, deleteFiles"},
		{What: "storage b2 encryption", Level: OK, Message: "bucket default encryption SSE-B2"},
		{What: "storage b2 lock", Level: Warn, Message: "storage.lock is not set: whoever takes this host can delete every backup with its key",
			Fix: `set storage.lock (see the README's "Object Lock"): every object stays undeletable for its days`},
	}
	if len(rs) != len(want) {
		t.Fatalf("results %+v", rs)
	}
	for i := range want {
		if rs[i] != want[i] {
			t.Errorf("result %d: %+v, want %+v", i, rs[i], want[i])
		}
	}
	if left := leftUnder(srv, MarkerPrefix); len(left) != 0 {
		t.Errorf("the marker was left: %v", left)
	}

	srv.Inject("download", b2test.Fault{Status: http.StatusForbidden})
	rs, _ = store(context.Background(), b2Storage(srv))
	if len(rs) == 0 || rs[0].Level != Fail || !strings.HasPrefix(rs[0].Message, "read "+MarkerPrefix) {
		t.Fatalf("a failed read back: %+v", rs)
	}
	if left := leftUnder(srv, MarkerPrefix); len(left) != 0 {
		t.Errorf("the marker was left after a failed read back: %v", left)
	}
}

// TestStoreUnusable: a storage section that cannot be used is one Fail.
func TestStoreUnusable(t *testing.T) {
	rs, _ := store(context.Background(), config.Storage{Type: "ftp"})
	if len(rs) != 1 || rs[0].Level != Fail || rs[0].What != "storage ftp" || !strings.Contains(rs[0].Message, `"ftp" is not b2, s3 or local`) {
		t.Errorf("results %+v", rs)
	}
}

// TestSnapshotsNeedingALook: a snapshot whose manifest does not load and
// one dated in the future are warned about, each with what to do; a good
// one is not.
func TestSnapshotsNeedingALook(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	good, broken, future := snapshot.NewID(now.Add(-time.Hour)), snapshot.NewID(now.Add(-2*time.Hour)), snapshot.NewID(now.Add(48*time.Hour))
	for _, id := range []string{broken, future} {
		os.MkdirAll(filepath.Join(dir, snapshot.Root, id), 0o700)
		os.WriteFile(filepath.Join(dir, snapshot.Root, id, "manifest.json"), []byte("{not json"), 0o600)
	}
	entries := []snapshot.Entry{
		{ID: good, Status: snapshot.StatusComplete},
		{ID: broken, Status: snapshot.StatusUnreadable, Reason: "unreadable manifest: unexpected EOF"},
		{ID: future, Status: snapshot.StatusComplete, Future: true},
	}
	rs := snapshots(entries)
	if len(rs) != 2 {
		t.Fatalf("results %+v", rs)
	}
	if r := rs[0]; r.What != "snapshot "+broken || r.Level != Warn || r.Fix != entries[1].Hint() ||
		r.Text() != "unreadable: unreadable manifest: unexpected EOF; never deleted by prune, never restored by default — "+entries[1].Hint() {
		t.Errorf("the unreadable snapshot: %+v", r)
	}
	if r := rs[1]; r.What != "snapshot "+future || r.Level != Warn || !strings.HasPrefix(r.Fix, "check the clock") ||
		!strings.Contains(r.Fix, snapshot.Root+future+"/") {
		t.Errorf("the future snapshot: %+v", r)
	}
}

// TestIdentities: an age identity in one of the places is found, also
// past blank and comment lines; one past the first 20 lines, in a
// directory or behind a symlink is not looked for.
func TestIdentities(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	key := "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n"
	os.WriteFile(filepath.Join(a, "config.yaml"), []byte("storage:\n  type: local\n"), 0o600)
	os.WriteFile(filepath.Join(b, "key.txt"), []byte("# created: 2026\n\n  "+key), 0o600)
	os.WriteFile(filepath.Join(a, "late.txt"), []byte(strings.Repeat("#\n", 20)+key), 0o600)
	os.Symlink(filepath.Join(b, "key.txt"), filepath.Join(a, "link.txt"))
	os.Mkdir(filepath.Join(a, "AGE-SECRET-KEY-dir"), 0o700)

	if rs := identities([]string{a}); len(rs) != 1 || rs[0].Level != OK {
		t.Errorf("without an identity: %+v", rs)
	}
	rs := identities([]string{a, b, b})
	want := filepath.Join(b, "key.txt") + " hold(s) an age identity"
	if len(rs) != 1 || rs[0].Level != Warn || rs[0].Message != want || !strings.HasPrefix(rs[0].Fix, "the backup host needs only recipients") {
		t.Errorf("with an identity: %+v", rs)
	}
	if dirs := identityDirs("/srv/mbackup/mbackup.yaml"); dirs[0] != "/srv/mbackup" || dirs[1] != "/etc/mbackup" {
		t.Errorf("identity places %v", dirs)
	}
}

// TestLocalStoreNotYet: check never creates a missing local store. It
// warns when the first backup will be able to create it, and fails when
// the nearest existing parent cannot hold a directory (here a file).
func TestLocalStoreNotYet(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "a", "store")
	rs, listed := store(context.Background(), config.Storage{Type: config.StorageLocal, Path: missing})
	if len(rs) != 1 || rs[0].Level != Warn || !strings.Contains(rs[0].Message, missing+" does not exist yet") ||
		!strings.Contains(rs[0].Message, "in "+dir+",") || listed == nil || len(listed) != 0 {
		t.Errorf("results %+v, listed %v", rs, listed)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Errorf("check created a directory of the store: %v", err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rs, _ = store(context.Background(), config.Storage{Type: config.StorageLocal, Path: filepath.Join(file, "store")})
	if len(rs) != 1 || rs[0].Level != Fail || !strings.Contains(rs[0].Message, "may not create it in "+file) || rs[0].Fix == "" {
		t.Errorf("under a file: %+v", rs)
	}
}
