package mediasync

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRestoreIntoFreshBucket(t *testing.T) {
	c, bucket := newBucket(t)
	want := map[string]string{}
	for i := range 12 {
		b := make([]byte, []int{0, 1, 4999, 5000, 5001, 70000}[i%6])
		rand.Read(b)
		k := fmt.Sprintf("media_attachments/files/%d/original/f%d.jpg", i, i)
		putObj(t, c, bucket, k, b)
		want[k] = string(b)
	}
	putObj(t, c, bucket, "site_uploads/ñ a.png", []byte("unicode"))
	want["site_uploads/ñ a.png"] = "unicode"
	st, _ := newB2(t)
	mirror(t, opts(c, bucket, st, nil))

	_, target := newBucket(t)
	ro := RestoreOptions{Store: st, Prefix: "media/", Target: Source{Client: c, Bucket: target}, Workers: 3}
	res, err := Restore(context.Background(), ro)
	if err != nil {
		t.Fatal(err)
	}
	if res.Copied != int64(len(want)) || res.Listed != int64(len(want)) {
		t.Fatalf("%+v", res.Counts)
	}
	sameContent(t, bucketContent(t, c, target), want)
	oi, err := c.StatObject(context.Background(), target, "media_attachments/files/1/original/f1.jpg", minioStat())
	if err != nil || oi.ContentType != "image/jpeg" {
		t.Errorf("content type %q, %v", oi.ContentType, err)
	}

	// A second restore finds everything in place.
	if res, err = Restore(context.Background(), ro); err != nil || res.Copied != 0 || res.Unchanged != int64(len(want)) {
		t.Fatalf("second restore: %+v, %v", res.Counts, err)
	}
	// A dry run into another bucket writes nothing.
	_, other := newBucket(t)
	ro.Target.Bucket, ro.DryRun = other, true
	if res, err = Restore(context.Background(), ro); err != nil || res.Copied != int64(len(want)) {
		t.Fatalf("dry run: %+v, %v", res.Counts, err)
	}
	if got := bucketContent(t, c, other); len(got) != 0 {
		t.Errorf("dry run wrote %d objects", len(got))
	}
}

// TestRestoreLimitsAndFilter: Restore with Exclude copies only the keys
// outside it (the others are counted as excluded), takes a slot of the
// store's limiter per download and of the target's per request, and a 429
// from the target pauses the run and shows in the result.
func TestRestoreLimitsAndFilter(t *testing.T) {
	c, bucket := newBucket(t)
	want := map[string]string{}
	for i := range 30 {
		k := fmt.Sprintf("media_attachments/files/%04d.png", i)
		if i%3 == 0 {
			k = fmt.Sprintf("cache/preview_cards/%04d.png", i)
		} else {
			want[k] = k
		}
		putObj(t, c, bucket, k, []byte(k))
	}
	st, srv := newB2(t)
	mirror(t, opts(c, bucket, st, nil))

	_, target := newBucket(t)
	var mu sync.Mutex
	puts := 0
	p := newCountingProxy(t, func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodPut {
			return false
		}
		if puts++; puts != 5 {
			return false
		}
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	})
	tl, sl := NewLimiter(20), NewLimiter(20)
	ro := RestoreOptions{Store: st, Prefix: "media/", Target: Source{Client: p.limitedClient(t, tl), Bucket: target},
		Workers: 8, RetryDelay: 10 * time.Millisecond, Exclude: []string{"cache/"}, StoreLimiter: sl, TargetLimiter: tl}
	before := len(srv.Requests())
	p.take()
	res, err := Restore(context.Background(), ro)
	if err != nil {
		t.Fatalf("%v (%+v)", err, res.Counts)
	}
	sameContent(t, bucketContent(t, c, target), want)
	if res.Copied != 20 || res.Listed != 20 || res.Excluded != 10 {
		t.Errorf("%+v; want 20 copied and listed, 10 excluded", res.Counts)
	}
	if th := res.SourceThrottling; th.Throttles != 1 || th.Pauses != 1 || th.Limit != 20 {
		t.Errorf("target throttling %+v; want one 429 and one pause", th)
	}
	got := p.maxPerSecond()
	var downloads []time.Time
	for _, r := range srv.Requests()[before:] {
		if r.Method == "download" {
			downloads = append(downloads, r.Time)
			if strings.Contains(r.Name, "cache/") {
				t.Errorf("downloaded %s, under the excluded cache/", r.Name)
			}
		}
	}
	gotStore := windowMax(downloads, time.Time{})
	t.Logf("target: %v, at most %d in a second; store: %d downloads, at most %d in a second (limits 20, burst 2)", p.take(), got, len(downloads), gotStore)
	if got > 20+2+ro.Workers || gotStore > 20+2+ro.Workers {
		t.Errorf("%d target requests, %d store downloads in one second; limit 20, burst 2, %d workers", got, gotStore, ro.Workers)
	}
	// The throttled PUT's body was a download from the store, which the
	// retry downloads again.
	if len(downloads) != 21 {
		t.Errorf("%d downloads from the store; want 21 (20 objects, one again after the 429)", len(downloads))
	}

	// Include: a dry run of cache/ alone plans its 10 objects.
	ro.Include, ro.Exclude, ro.DryRun = []string{"cache/"}, nil, true
	ro.StoreLimiter, ro.TargetLimiter = nil, nil
	if res, err = Restore(context.Background(), ro); err != nil || res.Copied != 10 || res.Excluded != 20 {
		t.Errorf("dry run of cache/: %+v, %v", res.Counts, err)
	}
	// A bad prefix fails before anything is read.
	ro.Include = []string{"/x"}
	if _, err := Restore(context.Background(), ro); err == nil || !strings.Contains(err.Error(), "include or exclude prefix") {
		t.Errorf("bad include: %v", err)
	}
}
