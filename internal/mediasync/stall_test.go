package mediasync

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"mbackup/internal/stall"
	"mbackup/internal/storage/s3"
)

// stallTime is the source stall timeout of these tests; a run that has
// not ended after 20 times it has hung.
const stallTime = 500 * time.Millisecond

// goroutinesSettle waits for the goroutine count to fall back to before
// and returns the count it settled at.
func goroutinesSettle(t *testing.T, before int) int {
	t.Helper()
	n := runtime.NumGoroutine()
	for i := 0; i < 500 && n > before; i++ {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before the run, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
	return n
}

// mirrorWithin runs Mirror, failing the test if it has not returned
// within 20 stall times.
func mirrorWithin(t *testing.T, o Options) (Result, error, time.Duration) {
	t.Helper()
	type out struct {
		res Result
		err error
	}
	done := make(chan out, 1)
	start := time.Now()
	go func() {
		res, err := Mirror(context.Background(), o)
		done <- out{res, err}
	}()
	select {
	case o := <-done:
		return o.res, o.err, time.Since(start)
	case <-time.After(20 * o.StallTimeout):
		t.Fatalf("Mirror still running after %v (stall timeout %v)", 20*o.StallTimeout, o.StallTimeout)
		return Result{}, nil, 0
	}
}

// TestSourceStallsMidBody: a source that answers one GET with its headers
// and half the body, then nothing, fails that object with the stall cause
// once its worker waited the stall time; the other objects are copied, the
// run reports the object, and no goroutine is left behind.
func TestSourceStallsMidBody(t *testing.T) {
	bodies := map[string]string{"a": "alpha", "b": strings.Repeat("half and then nothing ", 1000), "c": "gamma"}
	f := newFakeS3([]string{"a", "b", "c"}, bodies)
	f.stallGet = map[string]bool{"b": true}
	c := f.start(t)
	st, err := newLocalDir(t)
	if err != nil {
		t.Fatal(err)
	}
	o := opts(c, "bucket", st, nil)
	o.StallTimeout, o.Retries = stallTime, -1

	before := runtime.NumGoroutine()
	res, err, took := mirrorWithin(t, o)
	f.tr.CloseIdleConnections()
	after := goroutinesSettle(t, before)
	t.Logf("run failed after %v (stall timeout %v); goroutines %d before, %d after: %v", took, stallTime, before, after, err)

	if !errors.Is(err, stall.ErrStalled) {
		t.Fatalf("Mirror = %v; want the stall cause", err)
	}
	if took < stallTime {
		t.Errorf("failed after %v, before the stall timeout %v", took, stallTime)
	}
	if f.stalls.Load() != 1 {
		t.Errorf("%d responses stalled; want 1", f.stalls.Load())
	}
	if res.Failed != 1 || len(res.Failures) != 1 || res.Failures[0].Key != "b" || res.Copied != 2 {
		t.Fatalf("result %+v", res)
	}
	if fe := res.Failures[0].Err; !errors.Is(fe, stall.ErrStalled) || !strings.Contains(fe.Error(), "source stalled: nothing received for 500ms") {
		t.Errorf("failure of b: %v", fe)
	}
	sameContent(t, storeContent(t, st, "media/"), map[string]string{"a": "alpha", "c": "gamma"})
}

// TestSourceListingStalls: a listing whose page stops halfway fails the
// run with the stall cause, copies and deletes nothing, and leaves no
// goroutine behind.
func TestSourceListingStalls(t *testing.T) {
	f := newFakeS3([]string{"a", "b"}, map[string]string{"a": "alpha", "b": "beta"})
	f.stallList = true
	c := f.start(t)
	st, err := newLocalDir(t)
	if err != nil {
		t.Fatal(err)
	}
	o := opts(c, "bucket", st, nil)
	o.StallTimeout = stallTime

	before := runtime.NumGoroutine()
	res, err, took := mirrorWithin(t, o)
	f.tr.CloseIdleConnections()
	after := goroutinesSettle(t, before)
	t.Logf("run failed after %v; goroutines %d before, %d after: %v", took, before, after, err)

	if !errors.Is(err, stall.ErrStalled) || !strings.Contains(err.Error(), "list source") {
		t.Fatalf("Mirror = %v; want the listing's stall", err)
	}
	if res.Copied != 0 || res.Deleted != 0 || hasIndex(t, st) {
		t.Errorf("a run whose listing stalled wrote something: %+v", res.Counts)
	}
}

// TestRestoreStoreStalls: a store whose object body stops halfway fails
// that object of a restore with the stall cause; the others are copied.
func TestRestoreStoreStalls(t *testing.T) {
	keys := []string{"media/a", "media/b", "media/c"}
	f := newFakeS3(keys, map[string]string{"media/a": "alpha", "media/b": strings.Repeat("half ", 2000), "media/c": "gamma"})
	f.stallGet = map[string]bool{"media/b": true}
	f.start(t)
	st, err := s3.New(context.Background(), s3.Config{
		Endpoint: strings.TrimPrefix(f.url, "http://"), Region: "us-east-1", Bucket: "bucket",
		AccessKeyID: "k", SecretAccessKey: "s", DisableTLS: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, target := newBucket(t)
	ro := RestoreOptions{Store: st, Prefix: "media/", Target: Source{Client: c, Bucket: target},
		Retries: -1, StallTimeout: stallTime}
	done := make(chan struct{})
	var res Result
	go func() {
		defer close(done)
		res, err = Restore(context.Background(), ro)
	}()
	select {
	case <-done:
	case <-time.After(20 * stallTime):
		t.Fatalf("Restore still running after %v (stall timeout %v)", 20*stallTime, stallTime)
	}
	if !errors.Is(err, stall.ErrStalled) {
		t.Fatalf("Restore = %v; want the stall cause", err)
	}
	if res.Failed != 1 || len(res.Failures) != 1 || res.Failures[0].Key != "media/b" || res.Copied != 2 {
		t.Fatalf("result %+v", res)
	}
	if fe := res.Failures[0].Err.Error(); !strings.Contains(fe, "store stalled: nothing received for 500ms") {
		t.Errorf("failure of media/b: %s", fe)
	}
	sameContent(t, bucketContent(t, c, target), map[string]string{"a": "alpha", "c": "gamma"})
}
