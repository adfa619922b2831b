package mediasync

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

func memKey(i int) string {
	return fmt.Sprintf("media_attachments/files/%03d/%03d/%03d/original/%08x.png", i/1000000, i/1000%1000, i%1000, i*2654435761%(1<<32))
}

// heapPeak samples HeapInuse until stop is called and returns the peak
// above the level at the start.
func heapPeak() (stop func() (peak uint64)) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak - min(base, peak)
	}
}

// mirrorMany plans a mirror of n synthetic keys, with an index holding
// every key, into an empty local store, and reports the peak heap.
func mirrorMany(tb testing.TB, n int) (Result, uint64, time.Duration) {
	f := &fakeS3{n: n, key: memKey, size: func(i int) int64 { return int64(i % 100000) }}
	c := f.start(tb)
	st, err := newLocalDir(tb)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	iw, err := newIndexWriter(ctx, st, IndexKey("media/"))
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		if err := iw.add(entry{key: memKey(i), size: int64(i % 100000), etag: "old"}); err != nil {
			tb.Fatal(err)
		}
	}
	if err := iw.commit(); err != nil {
		tb.Fatal(err)
	}
	if o, err := st.Stat(ctx, IndexKey("media/")); err == nil {
		tb.Logf("index of %d records: %d bytes", n, o.Size)
	}
	stop := heapPeak()
	start := time.Now()
	res, err := Mirror(ctx, Options{Source: Source{Client: c, Bucket: "big"}, Store: st, Prefix: "media/", DryRun: true})
	took := time.Since(start)
	peak := stop()
	if err != nil {
		tb.Fatal(err)
	}
	if res.Listed != int64(n) || res.Copied != int64(n) || f.lists.Load() != int64((n+999)/1000) {
		tb.Fatalf("%+v, %d list requests", res.Counts, f.lists.Load())
	}
	return res, peak, took
}

func TestMemoryStaysFlat(t *testing.T) {
	_, peak, took := mirrorMany(t, memoryTestKeys)
	t.Logf("%d keys: peak heap above baseline %.1f MiB, %v", memoryTestKeys, float64(peak)/(1<<20), took)
	if peak > 64<<20 {
		t.Errorf("peak heap %d MiB", peak>>20)
	}
}

// BenchmarkMirrorPlan1M plans a mirror of a million keys (listing and index
// joined) and reports the peak heap in MiB and the time of the run alone
// (ns/op includes writing the index it reads).
func BenchmarkMirrorPlan1M(b *testing.B) {
	for range b.N {
		_, peak, took := mirrorMany(b, 1_000_000)
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(took.Seconds(), "mirror-s")
	}
}
