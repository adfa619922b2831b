package b2

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"testing"
	"time"

	"mbackup/internal/b2test"
	"mbackup/internal/storage"
)

// allVersions returns what Versions reports under prefix.
func allVersions(t *testing.T, s *Store, prefix string) []storage.Version {
	t.Helper()
	var out []storage.Version
	if err := s.Versions(context.Background(), prefix, func(v storage.Version) error {
		out = append(out, v)
		return nil
	}); err != nil {
		t.Fatalf("Versions(%q): %v", prefix, err)
	}
	return out
}

// readVersion reads one version whole.
func readVersion(s *Store, key, id string) ([]byte, error) {
	rc, err := s.GetVersion(context.Background(), key, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// TestVersions: every version and hide marker under the prefix, keys
// ascending and newest first, across pages; each older version reads back
// by its id; a hide marker, an unknown id and another key's id do not.
func TestVersions(t *testing.T) {
	srv, s := newStore(t, nil)
	s.versionPage = 2
	ctx := context.Background()
	v1, v2, other := data(1, 100), data(2, testChunk+10), data(3, 5)
	mustPut(t, s, "a/m", v1)
	mustPut(t, s, "a/m", v2)
	mustPut(t, s, "a/n", other)
	if err := s.current().Object(s.name("a/n")).Hide(ctx); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "b", other)
	got := allVersions(t, s, "a/")
	want := []struct {
		key    string
		size   int64
		hidden bool
	}{{"a/m", int64(len(v2)), false}, {"a/m", int64(len(v1)), false}, {"a/n", 0, true}, {"a/n", int64(len(other)), false}}
	if len(got) != len(want) {
		t.Fatalf("Versions = %+v; want %d versions", got, len(want))
	}
	for i, w := range want {
		if g := got[i]; g.Key != w.key || g.Size != w.size || g.Hidden != w.hidden || g.ID == "" || g.Modified.IsZero() {
			t.Errorf("version %d = %+v; want %+v", i, g, w)
		}
	}
	for i, b := range [][]byte{v2, v1} {
		if r, err := readVersion(s, "a/m", got[i].ID); err != nil || string(r) != string(b) {
			t.Errorf("GetVersion(a/m, %d) = %d bytes, %v", i, len(r), err)
		}
	}
	if r, err := readVersion(s, "a/n", got[3].ID); err != nil || string(r) != string(other) {
		t.Errorf("a hidden key's version = %d bytes, %v", len(r), err)
	}
	for _, c := range []struct{ key, id string }{{"a/n", got[2].ID}, {"a/m", "4_zno_such_id"}, {"b", got[0].ID}} {
		if _, err := readVersion(s, c.key, c.id); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("GetVersion(%s, %s) = %v; want fs.ErrNotExist", c.key, c.id, err)
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Versions(ctx, "", func(storage.Version) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("a callback error: %v after %d versions", err, n)
	}
	srv.ExpireTokens()
	if got := allVersions(t, s, "b"); len(got) != 1 {
		t.Errorf("after the tokens expired: %+v", got)
	}
	if _, err := s.GetVersion(ctx, "../x", "id"); !errors.Is(err, storage.ErrInvalidKey) {
		t.Errorf("an invalid key: %v", err)
	}
}

// TestVersionsRetention: each version carries its retention, as far as
// the key may read it.
func TestVersionsRetention(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateLockedBucket(testBucket, b2test.Governance, 3)
	s := openStore(t, srv, nil)
	start := time.Now()
	mustPut(t, s, "k", []byte("x"))
	v := allVersions(t, s, "k")
	if len(v) != 1 || v[0].LockMode != "governance" || v[0].RetainUntil.Before(start.Add(3*24*time.Hour-time.Second)) {
		t.Fatalf("Versions = %+v; want a 3-day governance retention", v)
	}
	srv.RestrictKey(testBucket, "listFiles", "readFiles", "writeFiles", "deleteFiles")
	if v := allVersions(t, s, "k"); len(v) != 1 || v[0].LockMode != "" || !v[0].RetainUntil.IsZero() {
		t.Errorf("without readFileRetentions: %+v", v)
	}
}

// TestVersionsFaults: a listing page or a version download that does not
// answer ends with the store's timeouts; 503s are retried.
func TestVersionsFaults(t *testing.T) {
	srv, s := newStore(t, shortTimeouts)
	mustPut(t, s, "k", []byte("payload"))
	id := allVersions(t, s, "k")[0].ID
	srv.Inject("b2_list_file_versions", b2test.Fault{Status: 503, Times: 2})
	srv.Inject("b2_download_file_by_id", b2test.Fault{Status: 503, Times: 2})
	if v := allVersions(t, s, "k"); len(v) != 1 {
		t.Errorf("after two 503s: %+v", v)
	}
	if b, err := readVersion(s, "k", id); err != nil || string(b) != "payload" {
		t.Errorf("GetVersion after two 503s: %q, %v", b, err)
	}
	srv.Inject("b2_list_file_versions", b2test.Fault{Hang: true})
	start := time.Now()
	err := s.Versions(context.Background(), "", func(storage.Version) error { return nil })
	if !errors.Is(err, errCallTimeout) {
		t.Errorf("Versions unanswered = %v; want a call timeout", err)
	}
	within(t, "Versions", time.Since(start), testCall)
	srv.ClearFaults()
	srv.Inject("b2_download_file_by_id", b2test.Fault{Hang: true})
	start = time.Now()
	_, err = readVersion(s, "k", id)
	if !errors.Is(err, ErrStalled) {
		t.Errorf("GetVersion unanswered = %v; want ErrStalled", err)
	}
	within(t, "GetVersion", time.Since(start), testStall)
	srv.ClearFaults()
	srv.Inject("b2_download_file_by_id", b2test.Fault{CutAfter: 3})
	if _, err := readVersion(s, "k", id); err == nil {
		t.Error("a download cut short read without an error")
	}
	noLeaks(t)
}
