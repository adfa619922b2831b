package b2

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pattern is a cheap source of incompressible bytes: a prime-length random
// block, read at shifting offsets.
type pattern struct {
	block []byte
	pos   int64
	left  int64
}

func newPattern(n int64) *pattern {
	return &pattern{block: data(42, 65521), left: n}
}

func (g *pattern) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.left)]
	n := 0
	for n < len(p) {
		m := copy(p[n:], g.block[g.pos%int64(len(g.block)):])
		n += m
		g.pos += int64(m)
	}
	g.left -= int64(n)
	return n, nil
}

// peakHeap samples HeapInuse every 50 ms until stop is called, which
// returns the peak.
func peakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	quit := make(chan struct{})
	done := make(chan struct{})
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peak.Load() {
			peak.Store(ms.HeapInuse)
		}
	}
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() uint64 {
		close(quit)
		<-done
		sample()
		return peak.Load()
	}
}

// TestMemoryOfAGiBPut streams 1 GiB in 16 MiB parts, 2 at a time, and
// checks that HeapInuse stays under 128 MiB. Under -race, sync.Pool drops a
// quarter of blazer's recycled 16 MiB buffers, so the heap churns and peaks
// at the GC goal, about twice the live heap: the figure is logged, and the
// limit is checked in a child "go test" without -race, which measures the
// program as it is shipped.
func TestMemoryOfAGiBPut(t *testing.T) {
	peak, elapsed := measureGiBPut(t)
	t.Logf("1 GiB Put in %d MiB parts × 2 uploads (race detector: %v): %v, peak HeapInuse %.1f MiB (limit %d MiB)",
		memChunk>>20, raceEnabled, elapsed.Round(time.Millisecond), float64(peak)/(1<<20), memLimit>>20)
	if !raceEnabled {
		if peak > memLimit {
			t.Errorf("peak HeapInuse %.1f MiB; want under %d MiB", float64(peak)/(1<<20), memLimit>>20)
		}
		return
	}
	out, err := runWithoutRace(t, "^TestMemoryOfAGiBPut$")
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "peak HeapInuse") {
			t.Logf("without -race: %s", strings.TrimSpace(line))
		}
	}
	if err != nil {
		t.Errorf("the memory test without -race failed: %v\n%s", err, out)
	}
}

const (
	memChunk = 16 << 20
	memLimit = 128 << 20
)

// measureGiBPut puts 1 GiB and returns the peak HeapInuse and the time.
func measureGiBPut(t *testing.T) (uint64, time.Duration) {
	const size = 1 << 30
	srv, s := newStore(t, func(c *Config) {
		c.ChunkSize = memChunk
		c.ConcurrentUploads = 2
	})
	srv.DiscardContent(true)
	runtime.GC()
	stop := peakHeap()
	start := time.Now()
	obj, err := s.Put(context.Background(), "big", newPattern(size))
	elapsed := time.Since(start)
	peak := stop()
	if err != nil {
		t.Fatalf("Put of 1 GiB: %v", err)
	}
	if obj.Size != size {
		t.Errorf("Put returned size %d", obj.Size)
	}
	st, err := s.Stat(context.Background(), "big")
	if err != nil || st.Size != size {
		t.Errorf("Stat = %+v, %v", st, err)
	}
	if n := srv.Count("b2_upload_part"); n != size/memChunk {
		t.Errorf("%d parts uploaded; want %d", n, size/memChunk)
	}
	return peak, elapsed
}

// runWithoutRace runs the tests matching run in a child "go test" of this
// package built without -race.
func runWithoutRace(t *testing.T, run string) ([]byte, error) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, "test", "-count=1", "-v", "-run", run, ".")
	var flags []string
	for _, f := range strings.Fields(os.Getenv("GOFLAGS")) {
		if f != "-race" && f != "--race" {
			flags = append(flags, f)
		}
	}
	cmd.Env = append(os.Environ(), "GOFLAGS="+strings.Join(flags, " "))
	return cmd.CombinedOutput()
}
