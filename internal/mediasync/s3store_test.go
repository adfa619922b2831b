package mediasync

import (
	"context"
	"fmt"
	"testing"

	"mbackup/internal/storage/s3"
)

// TestS3StoreRequestsAndNoopHeap mirrors small objects into an s3 store
// (default 16 MiB parts) through a counting proxy: the first run sends one
// PUT per object (plus one for the index) and no multipart request; the
// no-op run's heap stays far below one part buffer.
func TestS3StoreRequestsAndNoopHeap(t *testing.T) {
	const n = 300
	c, bucket := newBucket(t)
	want := seedSmall(t, c, bucket, n)
	st, p := proxiedStore(t, bucket)
	o := opts(c, bucket, st, nil)
	p.take()
	if res := mirror(t, o); res.Copied != n {
		t.Fatalf("first run: %+v", res.Counts)
	}
	got := p.take()
	t.Logf("first run, store requests: %v", got)
	// One PUT per object and the index; GET the missing index, one list.
	if got["PUT"] != n+1 || got["POST"] != 0 || got["GET list"] != 1 || got["GET"] != 1 {
		t.Errorf("first run, store requests %v; want %d PUT, 1 GET, 1 list, no POST", got, n+1)
	}
	sameContent(t, storeContent(t, st, "media/"), want)

	stop := heapPeak()
	res := mirror(t, o)
	peak := stop()
	t.Logf("no-op run of %d objects: peak heap above baseline %.1f MiB", n, float64(peak)/(1<<20))
	if res.Unchanged != n || res.Copied != 0 {
		t.Errorf("no-op run: %+v", res.Counts)
	}
	if peak >= 8<<20 {
		t.Errorf("no-op run: peak heap %.1f MiB; a part buffer (16 MiB) is back", float64(peak)/(1<<20))
	}
}

// TestStoreRateLimit: with StoreLimiter at 20 calls per second (burst 2),
// no one-second window sees more than 20 + 2 requests at an s3 store (one
// PUT per small object), plus the workers: the limiter spaces the requests
// when it grants them, and a busy machine may deliver a few late, together
// with the next ones (at most one per worker is in flight). Every object
// arrives.
func TestStoreRateLimit(t *testing.T) {
	c, bucket := newBucket(t)
	want := seedSmall(t, c, bucket, 50)
	st, p := proxiedStore(t, bucket)
	o := opts(c, bucket, st, nil)
	o.Workers = 8
	o.StoreLimiter = NewLimiter(20)
	p.take()
	if res := mirror(t, o); res.Copied != 50 {
		t.Fatalf("%+v", res.Counts)
	}
	got := p.maxPerSecond()
	n := p.take()
	t.Logf("store requests %v; at most %d in a second (limit 20, burst %d)", n, got, o.StoreLimiter.Burst())
	if got > 20+o.StoreLimiter.Burst()+o.Workers {
		t.Errorf("%d store requests in one second; limit 20, burst %d, %d workers", got, o.StoreLimiter.Burst(), o.Workers)
	}
	if n["PUT"] != 51 {
		t.Errorf("store requests %v; want 51 PUT", n)
	}
	sameContent(t, storeContent(t, st, "media/"), want)
}

// proxiedStore is an s3 store in a new bucket beside bucket, reached
// through a counting proxy.
func proxiedStore(t *testing.T, bucket string) (*s3.Store, *countingProxy) {
	dst := fmt.Sprintf("dst-%s", bucket)
	if err := s3srv.CreateBucket(context.Background(), dst, false); err != nil {
		t.Fatal(err)
	}
	p := newCountingProxy(t, nil)
	st, err := s3.New(context.Background(), s3.Config{
		Endpoint: p.srv.Listener.Addr().String(), Region: s3srv.Region, Bucket: dst,
		AccessKeyID: s3srv.AccessKeyID, SecretAccessKey: s3srv.SecretAccessKey, DisableTLS: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, p
}
