// Package storagetest is the conformance suite every storage.Store runs.
//
// A backend's test calls Run with a store on a real peer (a temp directory,
// the in-process B2 server, a real S3 server over HTTP). The suite writes only
// under keys starting with "conformance/", so one store may be shared with
// other tests, and it never skips a case: a backend either behaves like the
// others or fails.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"testing"

	"mbackup/internal/storage"
)

// Options describe the backend under test.
type Options struct {
	// PartSize is the backend's part or chunk size in bytes: objects are
	// written at every boundary around it. Zero means 5,000,000.
	PartSize int
	// Versions, when set, returns how many stored versions (hidden or not)
	// the backend holds for key. It lets the suite prove that Delete frees
	// every version; without it the suite checks what Stat and List show.
	Versions func(t *testing.T, key string) int
}

// Run runs every conformance case against s as subtests of t.
func Run(t *testing.T, s storage.Store, o Options) {
	if o.PartSize == 0 {
		o.PartSize = 5_000_000
	}
	c := &suite{s: s, o: o}
	t.Run("RoundTripSizes", c.roundTripSizes)
	t.Run("NotFound", c.notFound)
	t.Run("ListOrder", c.listOrder)
	t.Run("ListPrefix", c.listPrefix)
	t.Run("ListCallbackError", c.listCallbackError)
	t.Run("Overwrite", c.overwrite)
	t.Run("DeleteEveryVersion", c.deleteEveryVersion)
	t.Run("OddKeys", c.oddKeys)
	t.Run("InvalidKeys", c.invalidKeys)
	t.Run("FailingReader", c.failingReader)
	t.Run("CancelledPut", c.cancelledPut)
	t.Run("ConcurrentPuts", c.concurrentPuts)
}

type suite struct {
	s storage.Store
	o Options
}

// data returns n deterministic pseudo-random bytes for seed.
func data(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	_, _ = r.Read(b)
	return b
}

func (c *suite) put(t *testing.T, key string, b []byte) storage.Object {
	t.Helper()
	obj, err := c.s.Put(context.Background(), key, bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(b), err)
	}
	if obj.Key != key || obj.Size != int64(len(b)) {
		t.Fatalf("Put(%q) = {Key %q, Size %d}, want {Key %q, Size %d}", key, obj.Key, obj.Size, key, len(b))
	}
	return obj
}

func (c *suite) get(t *testing.T, key string) []byte {
	t.Helper()
	rc, err := c.s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("Get(%q): close: %v", key, err)
	}
	return b
}

func (c *suite) keys(t *testing.T, prefix string) []string {
	t.Helper()
	var ks []string
	err := c.s.List(context.Background(), prefix, func(o storage.Object) error {
		ks = append(ks, o.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return ks
}

func (c *suite) mustDelete(t *testing.T, key string) {
	t.Helper()
	if err := c.s.Delete(context.Background(), key); err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
}

// absent asserts that key is invisible to Stat, Get and List.
func (c *suite) absent(t *testing.T, key string) {
	t.Helper()
	ctx := context.Background()
	if o, err := c.s.Stat(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(%q) = %+v, %v; want fs.ErrNotExist", key, o, err)
	}
	if rc, err := c.s.Get(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Get(%q) error = %v; want fs.ErrNotExist", key, err)
	}
	for _, k := range c.keys(t, key) {
		if k == key {
			t.Errorf("List(%q) still shows %q", key, key)
		}
	}
}

func (c *suite) roundTripSizes(t *testing.T) {
	p := c.o.PartSize
	sizes := []int{0, 1, p - 1, p, p + 1, 3*p + 1}
	for i, n := range sizes {
		key := fmt.Sprintf("conformance/sizes/%02d-%d.bin", i, n)
		want := data(uint64(n), n)
		c.put(t, key, want)
		st, err := c.s.Stat(context.Background(), key)
		if err != nil {
			t.Fatalf("Stat(%q): %v", key, err)
		}
		if st.Key != key || st.Size != int64(n) || st.Modified.IsZero() {
			t.Errorf("Stat(%q) = %+v; want size %d and a time", key, st, n)
		}
		got := c.get(t, key)
		if sha256.Sum256(got) != sha256.Sum256(want) || len(got) != n {
			t.Errorf("size %d: read back %d bytes with a different sha256", n, len(got))
		}
		c.mustDelete(t, key)
	}
}

func (c *suite) notFound(t *testing.T) {
	key := "conformance/missing/never-written"
	c.absent(t, key)
	if err := c.s.Delete(context.Background(), key); err != nil {
		t.Errorf("Delete of a missing key = %v; want nil (deleting is idempotent)", err)
	}
	c.put(t, "conformance/missing/there", []byte("x"))
	c.mustDelete(t, "conformance/missing/there")
	c.absent(t, "conformance/missing/there")
	c.mustDelete(t, "conformance/missing/there")
}
