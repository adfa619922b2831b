package s3

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/storage"
)

// collectVersions returns what Versions gives under prefix.
func collectVersions(t *testing.T, s *Store, prefix string) []storage.Version {
	t.Helper()
	var vs []storage.Version
	if err := s.Versions(context.Background(), prefix, func(v storage.Version) error {
		vs = append(vs, v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return vs
}

// readVersion reads version id of key through GetVersion.
func readVersion(s *Store, key, id string) (string, error) {
	r, err := s.GetVersion(context.Background(), key, id)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

// TestVersionsLocked: every version and delete marker, in order, with
// the retention of each version, and each version readable by its id
// after the key was hidden by a Delete that locks refused.
func TestVersionsLocked(t *testing.T) {
	ctx := context.Background()
	s := lockedStore(t, "ver-locked", Lock{Mode: Compliance, Days: 2})
	for _, p := range [][2]string{{"b", "b1"}, {"a", "a1"}, {"a", "a2"}, {"b", "b2"}, {"c", "c1"}} {
		if _, err := s.Put(ctx, p[0], strings.NewReader(p[1])); err != nil {
			t.Fatal(err)
		}
	}
	var le *storage.LockedError
	if err := s.Delete(ctx, "b"); !errors.As(err, &le) {
		t.Fatalf("Delete = %v, want locked", err)
	}
	vs := collectVersions(t, s, "")
	want := []struct {
		key, body string
		hidden    bool
	}{{"a", "a2", false}, {"a", "a1", false}, {"b", "", true}, {"b", "b2", false}, {"b", "b1", false}, {"c", "c1", false}}
	if len(vs) != len(want) {
		t.Fatalf("%d versions, want %d: %+v", len(vs), len(want), vs)
	}
	until := time.Now().Add(2 * 24 * time.Hour)
	for i, w := range want {
		v := vs[i]
		if v.Key != w.key || v.Hidden != w.hidden {
			t.Errorf("version %d: %s hidden %v, want %s hidden %v", i, v.Key, v.Hidden, w.key, w.hidden)
			continue
		}
		if w.hidden {
			if !v.RetainUntil.IsZero() {
				t.Errorf("delete marker with a retention: %+v", v)
			}
			if _, err := readVersion(s, v.Key, v.ID); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("GetVersion of a delete marker: %v, want fs.ErrNotExist", err)
			}
			continue
		}
		if v.LockMode != Compliance || v.RetainUntil.Before(until.Add(-time.Minute)) || v.RetainUntil.After(until) {
			t.Errorf("version %d of %s: retention %s until %v, want compliance until about %v", i, v.Key, v.LockMode, v.RetainUntil, until)
		}
		if got, err := readVersion(s, v.Key, v.ID); err != nil || got != w.body {
			t.Errorf("version %d of %s: %q, %v; want %q", i, v.Key, got, err, w.body)
		}
		if v.Size != int64(len(w.body)) {
			t.Errorf("version %d of %s: size %d", i, v.Key, v.Size)
		}
	}
	if got := collectVersions(t, s, "b"); len(got) != 3 || got[0].Key != "b" || !got[0].Hidden {
		t.Errorf("versions under b: %+v", got)
	}
	for _, c := range []struct{ key, id string }{{"a", "01M8Y35NF228Y8FX2GRNQCP28C"}, {"a", "bogus"}, {"c", vs[0].ID}} {
		if _, err := readVersion(s, c.key, c.id); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("GetVersion(%s, %s): %v, want fs.ErrNotExist", c.key, c.id, err)
		}
	}
	stop := errors.New("stop")
	if err := s.Versions(ctx, "", func(storage.Version) error { return stop }); err != stop {
		t.Errorf("an error of fn came back as %v", err)
	}
}

// TestVersionsUnversioned: in a bucket without versioning each object is
// one version, "null", without retention, readable by GetVersion.
func TestVersionsUnversioned(t *testing.T) {
	ctx := context.Background()
	if err := srv.CreateBucket(ctx, "ver-plain", false); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, testConfig("ver-plain", "p"))
	if _, err := s.Put(ctx, "k", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	vs := collectVersions(t, s, "")
	if len(vs) != 1 || vs[0].Key != "k" || vs[0].Hidden || !vs[0].RetainUntil.IsZero() {
		t.Fatalf("versions %+v", vs)
	}
	if got, err := readVersion(s, "k", vs[0].ID); err != nil || got != "x" {
		t.Errorf("GetVersion(k, %s) = %q, %v", vs[0].ID, got, err)
	}
	if _, err := readVersion(s, "gone", vs[0].ID); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("GetVersion of a missing key: %v", err)
	}
	gone := newStore(t, testConfig("ver-no-such-bucket", "p"))
	if err := gone.Versions(ctx, "", func(storage.Version) error { return nil }); err == nil {
		t.Error("Versions of a missing bucket: no error")
	}
}

// TestLockSurvivesTheHostsKey: with the backup host's own key, deleting
// every version by id is refused and overwriting every object only adds
// versions; each original is still read by GetVersion, and Versions
// shows the forged ones on top.
func TestLockSurvivesTheHostsKey(t *testing.T) {
	ctx := context.Background()
	s := lockedStore(t, "attack", Lock{Mode: Governance, Days: 1})
	for _, k := range []string{"m1", "m2"} {
		if _, err := s.Put(ctx, k, strings.NewReader("real "+k)); err != nil {
			t.Fatal(err)
		}
	}
	c := rawClient(t) // the same key the store uses
	for _, v := range collectVersions(t, s, "") {
		err := c.RemoveObject(ctx, "attack", "p/"+v.Key, minio.RemoveObjectOptions{VersionID: v.ID})
		if err == nil {
			t.Errorf("deleting %s version %s succeeded", v.Key, v.ID)
		}
		if _, err := c.PutObject(ctx, "attack", "p/"+v.Key, strings.NewReader("forged"), 6, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	vs := collectVersions(t, s, "")
	if len(vs) != 4 {
		t.Fatalf("versions %+v", vs)
	}
	for i, k := range []string{"m1", "m2"} {
		newest, oldest := vs[2*i], vs[2*i+1]
		if got, err := readVersion(s, k, newest.ID); err != nil || got != "forged" {
			t.Errorf("%s newest: %q, %v", k, got, err)
		}
		if got, err := readVersion(s, k, oldest.ID); err != nil || got != "real "+k || oldest.RetainUntil.IsZero() {
			t.Errorf("%s oldest: %q, %v, retained until %v", k, got, err, oldest.RetainUntil)
		}
	}
}
