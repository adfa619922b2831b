package mediasync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
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

// livePeak samples the live heap as of the last GC (the bytes marked
// reachable: garbage not included, so steadier than HeapInuse) until stop
// is called and returns its peak above the level at the start.
func livePeak() (stop func() (peak uint64)) {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	base, peak := s[0].Value.Uint64(), s[0].Value.Uint64()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				metrics.Read(s)
				peak = max(peak, s[0].Value.Uint64())
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

// noopKey is the i-th key of TestNoopMemory, ascending with i.
func noopKey(i int) string {
	return fmt.Sprintf("media_attachments/files/%03d/%08d.png", i/1000, i)
}

// noopLiveBound is the most a no-op run may add to the live heap, at any
// number of keys: two listing pages, the index decoder's window, buffers
// (measured: 3.4 to 4.7 MiB at 50,000 keys). A run that held a listing
// would add ~200 bytes a key (10 MiB at 50,000 keys). noopHeapBound bounds
// the heap in use, garbage included (measured: 5.7 to 9.9 MiB).
const (
	noopLiveBound = 10 << 20
	noopHeapBound = 24 << 20
)

// TestNoopMemory runs a real no-op mirror (not a dry run) of
// memoryTestKeys/2 keys, each already in the store and the index, and
// fails when its peak heap passes the bounds or it writes the index.
func TestNoopMemory(t *testing.T) {
	n := memoryTestKeys / 2
	f := &fakeS3{n: n, key: noopKey, size: func(int) int64 { return 0 }}
	c := f.start(t)
	st := newLocal(t)
	ctx := context.Background()
	iw, err := newIndexWriter(ctx, st, IndexKey("media/"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		k := noopKey(i)
		p := filepath.Join(st.Root(), "media", filepath.FromSlash(k))
		if i%1000 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := iw.add(entry{key: k, etag: etagOf(k)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := iw.commit(); err != nil {
		t.Fatal(err)
	}
	before := indexModified(t, st)

	stopLive, stop := livePeak(), heapPeak()
	start := time.Now()
	res, err := Mirror(ctx, Options{Source: Source{Client: c, Bucket: "big"}, Store: st, Prefix: "media/"})
	took := time.Since(start)
	peak, live := stop(), stopLive()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("no-op run of %d keys: peak above baseline: live heap %.2f MiB, heap in use (garbage included) %.1f MiB; %v",
		n, float64(live)/(1<<20), float64(peak)/(1<<20), took)
	if res.Unchanged != int64(n) || res.Copied != 0 {
		t.Fatalf("%+v", res.Counts)
	}
	if !indexModified(t, st).Equal(before) {
		t.Error("the no-op run wrote the index")
	}
	if live > noopLiveBound || peak > noopHeapBound {
		t.Errorf("peak live heap %.1f MiB (bound %d), heap in use %.1f MiB (bound %d)",
			float64(live)/(1<<20), noopLiveBound>>20, float64(peak)/(1<<20), noopHeapBound>>20)
	}
}
