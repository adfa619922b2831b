package b2

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"mbackup/internal/b2test"
)

// lockedStore starts a fake B2 whose testBucket has file lock and the
// default retention (mode, days), restricts the key to caps (none: every
// capability) and opens a store with lock l.
func lockedStore(t *testing.T, mode string, days int, l Lock, caps ...string) (*b2test.Server, *Store) {
	t.Helper()
	srv := b2test.New(t)
	srv.CreateLockedBucket(testBucket, mode, days)
	if len(caps) > 0 {
		srv.RestrictKey(testBucket, caps...)
	}
	return srv, openStore(t, srv, func(c *Config) { c.Lock = l })
}

// retained checks that every version of key is locked in mode until
// about days from now.
func retained(t *testing.T, srv *b2test.Server, key, mode string, days int, start time.Time) {
	t.Helper()
	n := 0
	for _, f := range srv.Versions(testBucket) {
		if f.Name != testPrefix+key {
			continue
		}
		n++
		lo, hi := start.Add(time.Duration(days)*24*time.Hour), time.Now().Add(time.Duration(days)*24*time.Hour)
		if f.LockMode != mode || f.RetainUntil.Before(lo.Add(-time.Second)) || f.RetainUntil.After(hi.Add(time.Second)) {
			t.Errorf("%s version %s: %s until %v; want %s %d days from its upload", key, f.ID, f.LockMode, f.RetainUntil, mode, days)
		}
	}
	if n == 0 {
		t.Errorf("no version of %s", key)
	}
}

// uploadRequests counts the requests a Put made, other than reading back.
func uploadRequests(srv *b2test.Server, from int) map[string]int {
	m := map[string]int{}
	for _, r := range srv.Requests()[from:] {
		m[r.Method]++
	}
	return m
}

// TestLockedPutPerFile: on a lock-enabled bucket without a default
// retention, every version, small or large, carries the lock from its
// upload request, at no request of its own.
func TestLockedPutPerFile(t *testing.T) {
	srv, s := lockedStore(t, "", 0, Lock{Mode: Governance, Days: 5})
	start := time.Now()
	for _, c := range []struct {
		key  string
		size int
	}{{"small", 100}, {"empty", 0}, {"large", 2*testChunk + 1}} {
		before := len(srv.Requests())
		if _, err := s.Put(context.Background(), c.key, bytes.NewReader(data(7, c.size))); err != nil {
			t.Fatalf("Put %s: %v", c.key, err)
		}
		t.Logf("Put of %d bytes with a lock: %v", c.size, uploadRequests(srv, before))
		if n := srv.Count("b2_update_file_retention"); n != 0 {
			t.Errorf("%d b2_update_file_retention calls; the retention goes with the upload", n)
		}
		retained(t, srv, c.key, Governance, 5, start)
		checkContent(t, s, c.key, data(7, c.size))
	}
}

// TestLockedPutRequestCount: a small locked Put makes exactly the requests
// of an unlocked one.
func TestLockedPutRequestCount(t *testing.T) {
	count := func(l Lock) int {
		srv, s := lockedStore(t, "", 0, l)
		before := len(srv.Requests())
		if _, err := s.Put(context.Background(), "k", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		return len(srv.Requests()) - before
	}
	plain, locked := count(Lock{}), count(Lock{Mode: Compliance, Days: 1})
	t.Logf("requests per small Put: %d without a lock, %d with", plain, locked)
	if plain != locked {
		t.Errorf("a locked Put made %d requests, an unlocked one %d", locked, plain)
	}
}

// TestLockedPutBucketDefault: where the bucket's default retention is at
// least the lock (same mode or compliance), the store relies on it and
// the key needs no writeFileRetentions; a default that falls short is
// topped up per file.
func TestLockedPutBucketDefault(t *testing.T) {
	caps := []string{"listFiles", "readFiles", "writeFiles", "deleteFiles", "readBucketRetentions", "readFileRetentions"}
	srv, s := lockedStore(t, Compliance, 10, Lock{Mode: Governance, Days: 7}, caps...)
	start := time.Now()
	mustPut(t, s, "k", []byte("x"))
	retained(t, srv, "k", Compliance, 10, start)

	srv, s = lockedStore(t, Governance, 3, Lock{Mode: Governance, Days: 7})
	mustPut(t, s, "k", []byte("x"))
	retained(t, srv, "k", Governance, 7, start)
}

// TestLockedPutRefused: a lock that cannot be honoured fails the Put
// before any upload, saying what to fix.
func TestLockedPutRefused(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateBucket(testBucket)
	s := openStore(t, srv, func(c *Config) { c.Lock = Lock{Mode: Governance, Days: 7} })
	_, err := s.Put(context.Background(), "k", strings.NewReader("x"))
	if !errors.Is(err, errLockUnusable) || !strings.Contains(err.Error(), "--file-lock-enabled") {
		t.Errorf("Put on a bucket without file lock = %v", err)
	}
	caps := []string{"listFiles", "readFiles", "writeFiles", "deleteFiles", "readBucketRetentions"}
	srv, s = lockedStore(t, Governance, 1, Lock{Mode: Governance, Days: 7}, caps...)
	_, err = s.Put(context.Background(), "k", strings.NewReader("x"))
	if !errors.Is(err, errLockUnusable) || !strings.Contains(err.Error(), "writeFileRetentions") {
		t.Errorf("Put with a key lacking writeFileRetentions = %v", err)
	}
	if n := srv.Count("b2_upload_file") + srv.Count("b2_get_upload_url"); n != 0 {
		t.Errorf("%d upload requests for a refused Put", n)
	}
	for _, l := range []Lock{{Mode: "forever", Days: 1}, {Mode: Governance}, {Days: 3}} {
		if _, err := New(context.Background(), Config{KeyID: "k", AppKey: "a", Bucket: "b", Lock: l}); err == nil {
			t.Errorf("New accepted lock %+v", l)
		}
	}
}

// TestLockWithoutDefaultDoesNotPanic: B2 answers a lock-enabled bucket
// without a default retention with {"mode": null, "period": null}; New,
// Put, Inspect and the listings work on it (blazer v0.7.2 dereferences
// the period in its bucket update path, which the store never takes).
func TestLockWithoutDefaultDoesNotPanic(t *testing.T) {
	_, s := lockedStore(t, "", 0, Lock{})
	mustPut(t, s, "k", []byte("x"))
	a, err := s.Inspect(context.Background())
	if err != nil || !a.FileLockEnabled || a.DefaultMode != "" || a.DefaultDays != 0 {
		t.Errorf("Inspect = %+v, %v", a, err)
	}
	if v := allVersions(t, s, ""); len(v) != 1 || v[0].LockMode != "" {
		t.Errorf("Versions = %+v", v)
	}
}
