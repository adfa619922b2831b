package b2

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"mbackup/internal/storage"
)

// TestStorageCap: a Put refused with B2's 403 storage_cap_exceeded fails
// at once, small or large, wrapping storage.ErrStorageCap with the fix,
// and leaves nothing; listing, reading, versions and deleting go on at the
// cap, and deleting frees room for the next Put.
func TestStorageCap(t *testing.T) {
	srv, s := newStore(t, shortTimeouts)
	old := data(9, 1000)
	mustPut(t, s, "old", old)
	srv.SetStorageCap(1500)
	for _, size := range []int{1000, 2*testChunk + 1} {
		before := len(srv.Requests())
		start := time.Now()
		_, err := s.Put(context.Background(), "new", bytes.NewReader(data(10, size)))
		if !errors.Is(err, storage.ErrStorageCap) || !strings.Contains(err.Error(), "Caps & Alerts") {
			t.Fatalf("Put of %d bytes at the cap = %v; want ErrStorageCap naming the fix", size, err)
		}
		uploads := 0
		for _, r := range srv.Requests()[before:] {
			if r.Method == "b2_upload_file" || r.Method == "b2_upload_part" {
				uploads++
			}
		}
		t.Logf("Put of %d bytes at the cap: %d upload requests, %v", size, uploads, time.Since(start))
		if uploads > 2*DefaultConcurrentUploads {
			t.Errorf("%d upload requests; want the refusal not retried", uploads)
		}
		within(t, "Put at the cap", time.Since(start), testCall)
		absent(t, srv, s, "new")
		if size > testChunk {
			// A large file refused at the cap may leave an idle
			// upload thread of blazer's behind (seen on a loaded
			// machine): accepted, bounded, logged.
			acceptIdleThreads(t, DefaultConcurrentUploads)
		}
	}
	ctx := context.Background()
	n := 0
	if err := s.List(ctx, "", func(storage.Object) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("List at the cap: %d objects, %v", n, err)
	}
	checkContent(t, s, "old", old)
	if v := allVersions(t, s, ""); len(v) != 1 {
		t.Errorf("Versions at the cap: %+v", v)
	}
	if err := s.Delete(ctx, "old"); err != nil {
		t.Errorf("Delete at the cap: %v", err)
	}
	mustPut(t, s, "new", data(10, 1000))
	noLeaks(t)
}
