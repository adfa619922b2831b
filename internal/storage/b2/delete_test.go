package b2

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"mbackup/internal/b2test"
	"mbackup/internal/storage"
)

// actions lists the versions of key on the server, newest first, as
// "upload:mode" or "hide:".
func actions(srv *b2test.Server, key string) []string {
	var out []string
	for _, f := range srv.Versions(testBucket) {
		if f.Name == testPrefix+key {
			out = append(out, f.Action+":"+f.LockMode)
		}
	}
	return out
}

// gone asserts that key is out of Stat, Get and List.
func gone(t *testing.T, s *Store, key string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Stat(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(%s) = %v; want fs.ErrNotExist", key, err)
	}
	if _, err := s.Get(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get(%s) = %v; want fs.ErrNotExist", key, err)
	}
	s.List(ctx, "", func(o storage.Object) error {
		if o.Key == key {
			t.Errorf("List shows %s", key)
		}
		return nil
	})
}

// TestDeleteLocked: Delete removes the versions it may, hides the key
// first so no locked older version comes back into view, and reports the
// rest as a *storage.LockedError; run again before the retention ends it
// changes nothing, after it it removes the rest.
func TestDeleteLocked(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateLockedBucket(testBucket, "", 0)
	plain := openStore(t, srv, nil)
	locked := openStore(t, srv, func(c *Config) { c.Lock = Lock{Mode: Governance, Days: 1} })
	mustPut(t, plain, "k", []byte("v1"))
	mustPut(t, locked, "k", []byte("v2"))
	mustPut(t, plain, "k", []byte("v3"))
	start := time.Now()
	err := plain.Delete(context.Background(), "k")
	var le *storage.LockedError
	if !errors.As(err, &le) || le.Key != "k" || le.Until.Before(start.Add(24*time.Hour-time.Minute)) {
		t.Fatalf("Delete of a key with a locked version = %v; want a LockedError until in a day", err)
	}
	if !strings.Contains(err.Error(), "locked until") {
		t.Errorf("message %q", err)
	}
	if got := strings.Join(actions(srv, "k"), " "); got != "hide: upload:governance" {
		t.Errorf("versions left: %s; want the hide marker and the locked version", got)
	}
	gone(t, plain, "k")
	hides := srv.Count("b2_hide_file")
	if err := plain.Delete(context.Background(), "k"); !errors.As(err, &le) {
		t.Errorf("second Delete = %v", err)
	}
	if got := strings.Join(actions(srv, "k"), " "); got != "hide: upload:governance" || srv.Count("b2_hide_file") != hides {
		t.Errorf("second Delete changed the versions: %s, %d hides", got, srv.Count("b2_hide_file")-hides)
	}
	later := time.Now().Add(25 * time.Hour)
	srv.SetNow(func() time.Time { return later })
	plain.now = func() time.Time { return later }
	if err := plain.Delete(context.Background(), "k"); err != nil {
		t.Errorf("Delete after the retention = %v", err)
	}
	absent(t, srv, plain, "k")
}

// TestDeleteLockedUnreadable: a key that may not read retention learns of
// it from B2's refusal; the key is hidden and reported locked.
func TestDeleteLockedUnreadable(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateLockedBucket(testBucket, Compliance, 2)
	srv.RestrictKey(testBucket, "listFiles", "readFiles", "writeFiles", "deleteFiles")
	s := openStore(t, srv, nil)
	mustPut(t, s, "k", []byte("x"))
	err := s.Delete(context.Background(), "k")
	var le *storage.LockedError
	if !errors.As(err, &le) || !le.Until.IsZero() || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("Delete = %v; want a LockedError without a date", err)
	}
	gone(t, s, "k")
	if got := strings.Join(actions(srv, "k"), " "); got != "hide: upload:compliance" {
		t.Errorf("versions left: %s", got)
	}
}

// TestDeleteHides: with a key lacking deleteFiles, Delete hides the key
// (once; hiding a hidden key is fine) and keeps its versions.
func TestDeleteHides(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateBucket(testBucket)
	full := openStore(t, srv, nil)
	if full.Hides() {
		t.Error("a key with deleteFiles hides")
	}
	srv.RestrictKey(testBucket, "listFiles", "readFiles", "writeFiles")
	s := openStore(t, srv, nil)
	if !s.Hides() {
		t.Fatal("a key without deleteFiles does not hide")
	}
	mustPut(t, s, "k", []byte("x"))
	ctx := context.Background()
	for range 2 {
		if err := s.Delete(ctx, "k"); err != nil {
			t.Fatalf("Delete = %v", err)
		}
	}
	if err := s.Delete(ctx, "never"); err != nil {
		t.Errorf("Delete of a missing key = %v", err)
	}
	gone(t, s, "k")
	if got := strings.Join(actions(srv, "k"), " "); got != "hide: upload:" || srv.Count("b2_hide_file") != 1 {
		t.Errorf("versions %s after %d hides", got, srv.Count("b2_hide_file"))
	}
	if n := srv.Count("b2_delete_file_version"); n != 0 {
		t.Errorf("%d delete calls with a key that may not delete", n)
	}
	mustPut(t, s, "k", []byte("y")) // a new version over a hidden key
	checkContent(t, s, "k", []byte("y"))
}

// TestDeleteFaults: a hide or a delete that does not answer ends with the
// call timeout; a 503 is retried.
func TestDeleteFaults(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateBucket(testBucket)
	s := openStore(t, srv, shortTimeouts)
	mustPut(t, s, "k", []byte("x"))
	srv.Inject("b2_delete_file_version", b2test.Fault{Status: 503, Times: 2})
	if err := s.Delete(context.Background(), "k"); err != nil {
		t.Errorf("Delete after two 503s = %v", err)
	}
	absent(t, srv, s, "k")
	mustPut(t, s, "k", []byte("x"))
	srv.Inject("b2_delete_file_version", b2test.Fault{Hang: true})
	start := time.Now()
	if err := s.Delete(context.Background(), "k"); !errors.Is(err, errCallTimeout) {
		t.Errorf("Delete unanswered = %v; want a call timeout", err)
	}
	within(t, "Delete", time.Since(start), testCall)
	srv.ClearFaults()
	srv.RestrictKey(testBucket, "listFiles", "readFiles", "writeFiles")
	h := openStore(t, srv, shortTimeouts)
	srv.Inject("b2_hide_file", b2test.Fault{Hang: true})
	start = time.Now()
	if err := h.Delete(context.Background(), "k"); !errors.Is(err, errCallTimeout) {
		t.Errorf("a hiding Delete unanswered = %v; want a call timeout", err)
	}
	within(t, "hiding Delete", time.Since(start), testCall)
	srv.ClearFaults()
	checkContent(t, h, "k", []byte("x"))
}
