package s3

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/storage"
)

// lockedStore is a store with lock l on a new lock-enabled bucket.
func lockedStore(t *testing.T, bucket string, l Lock) *Store {
	t.Helper()
	if err := srv.CreateLockedBucket(context.Background(), bucket); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(bucket, "p")
	cfg.Lock = l
	return newStore(t, cfg)
}

// versionsOfKey lists the versions of p/key behind the store's back.
func versionsOfKey(t *testing.T, bucket, key string) []minio.ObjectInfo {
	t.Helper()
	var out []minio.ObjectInfo
	opts := minio.ListObjectsOptions{Prefix: "p/" + key, Recursive: true, WithVersions: true}
	for info := range rawClient(t).ListObjects(context.Background(), bucket, opts) {
		if info.Err != nil {
			t.Fatal(info.Err)
		}
		if info.Key == "p/"+key {
			out = append(out, info)
		}
	}
	return out
}

func TestLockRetentionOnEveryWrite(t *testing.T) {
	ctx := context.Background()
	s := lockedStore(t, "lock-write", Lock{Mode: Governance, Days: 3})
	before := time.Now()
	big := bytes.Repeat([]byte("m"), MinPartSize+1000) // multipart
	if _, err := s.Put(ctx, "single", strings.NewReader("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSized(ctx, "sized", strings.NewReader("two"), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "multi", bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	c := rawClient(t)
	for _, key := range []string{"single", "sized", "multi"} {
		vs := versionsOfKey(t, "lock-write", key)
		if len(vs) != 1 {
			t.Fatalf("%s: %d versions, want 1", key, len(vs))
		}
		mode, until, err := s.retention(ctx, "p/"+key, vs[0].VersionID)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := before.Add(3*24*time.Hour-time.Second), time.Now().Add(3*24*time.Hour+time.Second)
		if mode != Governance || until.Before(lo) || until.After(hi) {
			t.Errorf("%s: retention %q until %v, want governance within [%v, %v]", key, mode, until, lo, hi)
		}
		err = c.RemoveObject(ctx, "lock-write", "p/"+key, minio.RemoveObjectOptions{VersionID: vs[0].VersionID})
		if !isLockRefusal(err) {
			t.Errorf("%s: delete of the retained version: %v, want refused", key, err)
		}
	}
}

func TestLockNotWrittenWithoutLock(t *testing.T) {
	ctx := context.Background()
	s := lockedStore(t, "lock-none", Lock{})
	if _, err := s.Put(ctx, "k", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	vs := versionsOfKey(t, "lock-none", "k")
	if mode, until, err := s.retention(ctx, "p/k", vs[0].VersionID); err != nil || mode != "" || !until.IsZero() {
		t.Fatalf("retention %q %v %v, want none", mode, until, err)
	}
}

func TestLockOnBucketWithoutObjectLock(t *testing.T) {
	ctx := context.Background()
	if err := srv.CreateBucket(ctx, "lock-nolock", true); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("lock-nolock", "p")
	cfg.Lock = Lock{Mode: Compliance, Days: 1}
	s := newStore(t, cfg)
	if _, err := s.Put(ctx, "k", strings.NewReader("x")); err == nil {
		t.Fatal("Put with a lock into a bucket without Object Lock succeeded")
	} else {
		t.Log(err)
	}
}

func TestLockConfigChecked(t *testing.T) {
	for _, l := range []Lock{{Mode: "forever", Days: 1}, {Mode: Governance}, {Days: 3}} {
		cfg := testConfig("b", "")
		cfg.Lock = l
		if _, err := New(context.Background(), cfg); err == nil {
			t.Errorf("lock %+v accepted", l)
		}
	}
}

// visible reports whether key is in Get, Stat and List of s.
func visible(t *testing.T, s *Store, key string) (get, stat, list bool) {
	t.Helper()
	ctx := context.Background()
	if r, err := s.Get(ctx, key); err == nil {
		r.Close()
		get = true
	}
	_, err := s.Stat(ctx, key)
	stat = err == nil
	err = s.List(ctx, "", func(o storage.Object) error {
		list = list || o.Key == key
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return get, stat, list
}

func TestLockDeleteRetained(t *testing.T) {
	ctx := context.Background()
	for _, l := range []Lock{{Mode: Governance, Days: 2}, {Mode: Compliance, Days: 2}} {
		bucket := "lock-del-" + l.Mode
		s := lockedStore(t, bucket, l)
		if _, err := s.Put(ctx, "k", strings.NewReader("old")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, "k", strings.NewReader("new")); err != nil {
			t.Fatal(err)
		}
		for try := range 2 { // idempotent
			err := s.Delete(ctx, "k")
			var le *storage.LockedError
			if !errors.As(err, &le) {
				t.Fatalf("%s try %d: Delete = %v, want a LockedError", l.Mode, try, err)
			}
			want := time.Now().Add(2 * 24 * time.Hour)
			if le.Key != "k" || le.Until.Before(want.Add(-time.Minute)) || le.Until.After(want) {
				t.Errorf("%s try %d: %+v, want key k until about %v", l.Mode, try, le, want)
			}
			if g, st, li := visible(t, s, "k"); g || st || li {
				t.Errorf("%s try %d: key still visible (get %v stat %v list %v)", l.Mode, try, g, st, li)
			}
			vs := versionsOfKey(t, bucket, "k")
			if len(vs) != 3 || !vs[0].IsDeleteMarker || !vs[0].IsLatest {
				t.Errorf("%s try %d: versions %+v, want a delete marker over the two retained ones", l.Mode, try, vs)
			}
		}
	}
}

// TestDeleteRetainedWithoutLockConfig: a retention the store did not
// write (another writer's) is refused all the same, and the key is hidden
// afterwards.
func TestDeleteRetainedWithoutLockConfig(t *testing.T) {
	ctx := context.Background()
	locked := lockedStore(t, "lock-other", Lock{Mode: Governance, Days: 1})
	if _, err := locked.Put(ctx, "k", strings.NewReader("locked")); err != nil {
		t.Fatal(err)
	}
	plain := newStore(t, testConfig("lock-other", "p"))
	if _, err := plain.Put(ctx, "k", strings.NewReader("unlocked")); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Put(ctx, "free", strings.NewReader("unlocked")); err != nil {
		t.Fatal(err)
	}
	err := plain.Delete(ctx, "k")
	var le *storage.LockedError
	if !errors.As(err, &le) || le.Until.IsZero() {
		t.Fatalf("Delete = %v, want a LockedError with a date", err)
	}
	if g, st, li := visible(t, plain, "k"); g || st || li {
		t.Errorf("key still visible (get %v stat %v list %v)", g, st, li)
	}
	vs := versionsOfKey(t, "lock-other", "k")
	if len(vs) != 2 || !vs[0].IsDeleteMarker {
		t.Errorf("versions %+v, want a delete marker over the retained one only", vs)
	}
	if err := plain.Delete(ctx, "free"); err != nil {
		t.Fatal(err)
	}
	if vs := versionsOfKey(t, "lock-other", "free"); len(vs) != 0 {
		t.Errorf("unlocked key: %d versions left", len(vs))
	}
}

// TestLockDeleteExpired: once the retention has passed, Delete removes
// every version and marker.
func TestLockDeleteExpired(t *testing.T) {
	ctx := context.Background()
	s := lockedStore(t, "lock-expired", Lock{Mode: Governance, Days: 1})
	if _, err := s.Put(ctx, "k", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	// A retention of a few seconds, set behind the store's back, stands
	// for one whose days have passed.
	vs := versionsOfKey(t, "lock-expired", "k")
	until := time.Now().Add(3 * time.Second)
	mode := minio.Governance
	err := rawClient(t).PutObjectRetention(ctx, "lock-expired", "p/k", minio.PutObjectRetentionOptions{
		VersionID: vs[0].VersionID, Mode: &mode, RetainUntilDate: &until, GovernanceBypass: true})
	if err != nil {
		t.Fatal(err)
	}
	var le *storage.LockedError
	if err := s.Delete(ctx, "k"); !errors.As(err, &le) {
		t.Fatalf("Delete = %v, want locked", err)
	}
	time.Sleep(time.Until(until) + time.Second)
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if vs := versionsOfKey(t, "lock-expired", "k"); len(vs) != 0 {
		t.Errorf("%d versions left: %+v", len(vs), vs)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatalf("Delete of a gone key: %v", err)
	}
}

// TestRetentionRead: a version without retention in a bucket without
// Object Lock reads as none; a missing bucket is an error.
func TestRetentionRead(t *testing.T) {
	ctx := context.Background()
	if err := srv.CreateBucket(ctx, "ret-plain", true); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, testConfig("ret-plain", "p"))
	if _, err := s.Put(ctx, "k", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	vs := versionsOfKey(t, "ret-plain", "k")
	if mode, until, err := s.retention(ctx, "p/k", vs[0].VersionID); err != nil || mode != "" || !until.IsZero() {
		t.Errorf("plain bucket: retention %q %v %v, want none", mode, until, err)
	}
	gone := newStore(t, testConfig("ret-no-such-bucket", "p"))
	if _, _, err := gone.retention(ctx, "p/k", vs[0].VersionID); err == nil {
		t.Error("retention in a missing bucket: no error")
	} else {
		t.Log(err)
	}
}

// TestLockSendsContentMD5: under a lock every upload request carries the
// Content-MD5 of its data (AWS requires it with a retention), seen by an
// HTTP proxy in front of the server; without a lock none does.
func TestLockSendsContentMD5(t *testing.T) {
	ctx := context.Background()
	if err := srv.CreateLockedBucket(ctx, "lock-md5"); err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse("http://" + srv.Endpoint)
	var mu sync.Mutex
	seen := map[string]int{} // "with" or "without" Content-MD5, per upload request
	rp := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			if r.Header.Get("Content-MD5") != "" {
				seen["with"]++
			} else {
				seen["without"]++
			}
			mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	defer front.Close()
	for _, l := range []Lock{{Mode: Governance, Days: 1}, {}} {
		cfg := testConfig("lock-md5", "p")
		cfg.Endpoint, cfg.Lock = strings.TrimPrefix(front.URL, "http://"), l
		s := newStore(t, cfg)
		mu.Lock()
		clear(seen)
		mu.Unlock()
		if _, err := s.Put(ctx, "single", strings.NewReader("one")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutSized(ctx, "sized", strings.NewReader("two"), 3); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, "multi", bytes.NewReader(bytes.Repeat([]byte("m"), MinPartSize+1000))); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := maps.Clone(seen)
		mu.Unlock()
		// single, sized, and the two parts of multi
		if l.Mode != "" && (got["with"] != 4 || got["without"] != 0) || l.Mode == "" && got["with"] != 0 {
			t.Errorf("lock %+v: upload requests %v", l, got)
		}
	}
}
