package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/storage"
	"mbackup/internal/testenv"
)

// Timeouts of the frozen-server tests. Every call must fail within
// frozenFactor times what the package comment promises for it: generous
// for a busy machine, yet short of minio-go's own retries (10 tries of a
// stall timeout each, about 27s here).
const (
	frozenCall   = time.Second
	frozenStall  = 2 * time.Second
	frozenFactor = 10
)

// frozenStore is a store on its own versitygw, which the test may freeze
// (SIGSTOP) without disturbing the other tests.
func frozenStore(t *testing.T) (*Store, *testenv.S3) {
	t.Helper()
	gw := testenv.StartS3(t)
	cfg := Config{
		Endpoint: gw.Endpoint, Region: gw.Region, Bucket: gw.Bucket, Prefix: "frozen",
		AccessKeyID: gw.AccessKeyID, SecretAccessKey: gw.SecretAccessKey, DisableTLS: true,
		PartSize: MinPartSize, CallTimeout: frozenCall, IdleTimeout: frozenStall,
	}
	return newStore(t, cfg), gw
}

// freeze stops gw and resumes it when the test ends. It may run on
// another goroutine than the test's.
func freeze(t *testing.T, gw *testenv.S3) {
	t.Helper()
	if err := gw.Freeze(); err != nil {
		t.Error(err)
	}
	t.Cleanup(func() { _ = gw.Thaw() })
}

// failsWithin runs f, which must fail on the frozen server within
// frozenFactor times promised, and logs how long it took.
func failsWithin(t *testing.T, what string, promised time.Duration, f func() error) {
	t.Helper()
	bound := frozenFactor * promised
	start := time.Now()
	err := within(t, 10*bound, what, f)
	took := time.Since(start)
	t.Logf("%-24s failed after %5.2fs (promised %v): %v", what, took.Seconds(), promised, err)
	if err == nil {
		t.Errorf("%s succeeded on a frozen server", what)
	}
	if took > bound {
		t.Errorf("%s took %v; want under %v (call timeout %v, stall timeout %v)", what, took, bound, frozenCall, frozenStall)
	}
}

// TestFrozenServer stops versitygw with SIGSTOP (connections are accepted
// by the kernel, nothing answers) and checks that every call of the store
// fails within a bound of its timeouts, minio-go's retries included; then
// resumes it and checks that the store works again.
func TestFrozenServer(t *testing.T) {
	s, gw := frozenStore(t)
	ctx := context.Background()
	seedPages(t, gw, "frozen/many/", 1001)
	big := bytes.Repeat([]byte("0123456789abcdef"), 40<<20/16)
	if _, err := s.Put(ctx, "big", bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	body, err := s.Get(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	if _, err := io.ReadFull(body, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}

	// A listing that gets its first page, then finds the server frozen.
	seen := 0
	failsWithin(t, "List, second page", frozenCall, func() error {
		return s.List(ctx, "many/", func(storage.Object) error {
			if seen++; seen == 1 {
				freeze(t, gw)
			}
			return nil
		})
	})
	if seen >= 1001 {
		t.Errorf("List saw %d keys; want the first page only", seen)
	}
	failsWithin(t, "List", frozenCall, func() error { return s.List(ctx, "", func(storage.Object) error { return nil }) })
	failsWithin(t, "Stat", frozenCall, func() error { _, err := s.Stat(ctx, "big"); return err })
	failsWithin(t, "Get", frozenCall, func() error {
		rc, err := s.Get(ctx, "big")
		if err == nil {
			rc.Close()
		}
		return err
	})
	failsWithin(t, "reading a Get body", frozenStall, func() error { _, err := io.Copy(io.Discard, body); return err })
	failsWithin(t, "Put", frozenCall, func() error { _, err := s.Put(ctx, "put", strings.NewReader("x")); return err })
	failsWithin(t, "Delete", frozenCall, func() error { return s.Delete(ctx, "big") })
	failsWithin(t, "SweepUnfinished", frozenCall, func() error { _, err := s.SweepUnfinished(ctx, time.Hour); return err })

	if err := gw.Thaw(); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s, "after-thaw")
}

// TestServerFrozenMidPut freezes the server while the second part of a Put
// is sent: the part fails after the stall timeout, retries included, and
// the abort after the call timeout.
func TestServerFrozenMidPut(t *testing.T) {
	s, gw := frozenStore(t)
	r := triggerAt(4*MinPartSize, MinPartSize+MinPartSize/2, func() {
		if err := gw.Freeze(); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(func() { _ = gw.Thaw() })
	failsWithin(t, "Put, frozen at part 2", frozenStall+frozenCall, func() error {
		_, err := s.Put(context.Background(), "mid-put", r)
		return err
	})
	if err := gw.Thaw(); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s, "after-thaw")
}

// roundTrip checks that the store puts, lists, reads and deletes key.
func roundTrip(t *testing.T, s *Store, key string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Put(ctx, key, strings.NewReader("back")); err != nil {
		t.Fatalf("Put after the thaw: %v", err)
	}
	found := false
	if err := s.List(ctx, key, func(o storage.Object) error { found = found || o.Key == key; return nil }); err != nil || !found {
		t.Errorf("List after the thaw = %v, found %v", err, found)
	}
	rc, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get after the thaw: %v", err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if string(b) != "back" || err != nil {
		t.Errorf("Get after the thaw = %q, %v", b, err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Errorf("Delete after the thaw: %v", err)
	}
}

// seedPages writes n empty objects under prefix with gw's own client.
func seedPages(t *testing.T, gw *testenv.S3, prefix string, n int) {
	t.Helper()
	c, err := gw.Client()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				key := fmt.Sprintf("%s%05d", prefix, i)
				if _, err := c.PutObject(context.Background(), gw.Bucket, key, bytes.NewReader(nil), 0, minio.PutObjectOptions{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// TestRetryPolicyAsDocumented pins the retry policy the package comment
// states: an upgrade of minio-go that changes its backoff must update it.
func TestRetryPolicyAsDocumented(t *testing.T) {
	if minio.DefaultRetryUnit != 200*time.Millisecond || minio.DefaultRetryCap != time.Second {
		t.Errorf("minio-go backs off from %v up to %v; the package comment says 200ms up to 1s",
			minio.DefaultRetryUnit, minio.DefaultRetryCap)
	}
	if got := (Config{}).withDefaults().MaxRetries; got != DefaultMaxRetries {
		t.Errorf("default MaxRetries = %d; want %d", got, DefaultMaxRetries)
	}
}
