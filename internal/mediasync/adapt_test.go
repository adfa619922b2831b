package mediasync

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// logLines collects a Limiter's log lines.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(format string, a ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, a...))
	l.mu.Unlock()
}

func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// pauseNow starts a pause of d as a throttled request granted now would.
func pauseNow(t *testing.T, l *Limiter, d time.Duration) {
	t.Helper()
	l.mu.Lock()
	epoch := l.epoch
	l.mu.Unlock()
	l.Pause(epoch, d)
}

func rate(l *Limiter) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate
}

// TestAdaptLowersAfterRepeatedPauses: one pause keeps the rate, the second
// in a row halves it, and so on down to the floor (a sixteenth of the
// limit), never below; each change is logged once, with the throttles so
// far. Answers to requests granted before a pause count as throttles but
// neither pause nor lower.
func TestAdaptLowersAfterRepeatedPauses(t *testing.T) {
	l := NewLimiter(160)
	var log logLines
	defer l.watch("source", log.logf)()
	want := []float64{160, 80, 80, 40, 40, 20, 20, 10, 10, 10, 10}
	for i, w := range want {
		pauseNow(t, l, 0)
		l.Pause(-1, 0) // an answer from before the pause
		if got := rate(l); got != w {
			t.Fatalf("after %d pauses: rate %v; want %v", i+1, got, w)
		}
	}
	rep := l.report()
	if rep.Throttles != int64(2*len(want)) || rep.Pauses != int64(len(want)) || rep.Lowest != 10 || rep.Limit != 160 {
		t.Errorf("report %+v", rep)
	}
	lines := log.all()
	if len(lines) != 4 || lines[0] != "source: throttled 3 times, rate lowered to 80/s (limit 160/s)" ||
		!strings.Contains(lines[3], "rate lowered to 10/s") {
		t.Errorf("log %q; want 4 lines, one per change", lines)
	}
	if l.Burst() != 1 {
		t.Errorf("burst %d at 10/s; want 1", l.Burst())
	}
	if got, want := rep.Describe("source"), "throttled 22 times by the source; rate lowered to 10/s"; got != want {
		t.Errorf("Describe: %q; want %q", got, want)
	}
}

// TestAdaptFloorIsOne: a limit below 16 per second is never lowered below
// 1 per second.
func TestAdaptFloorIsOne(t *testing.T) {
	l := NewLimiter(3)
	for range 10 {
		pauseNow(t, l, 0)
	}
	if got := rate(l); got != 1 {
		t.Errorf("rate %v; want the floor 1", got)
	}
}

// TestAdaptRaisesAfterCalm: after a calm stretch without pauses the rate
// rises by a sixteenth of the limit per stretch, never above the limit,
// and a pause after a calm stretch does not lower it (the strikes were
// forgotten).
func TestAdaptRaisesAfterCalm(t *testing.T) {
	l := NewLimiter(160)
	l.a.calmFor = 20 * time.Millisecond
	var log logLines
	defer l.watch("store", log.logf)()
	pauseNow(t, l, 0)
	pauseNow(t, l, 0)
	if got := rate(l); got != 80 {
		t.Fatalf("rate %v; want 80", got)
	}
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for rate(l) < 160 && time.Now().Before(deadline) {
		time.Sleep(25 * time.Millisecond)
		if _, err := l.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := rate(l); got != 160 {
		t.Fatalf("rate %v after a minute of calm; want 160", got)
	}
	raises := 0
	for _, line := range log.all() {
		if strings.Contains(line, "store: no throttle for 20ms, rate raised to") {
			raises++
		}
	}
	if raises != 8 { // 80 to 160 by 10
		t.Errorf("%d raises logged; want 8: %q", raises, log.all())
	}
	time.Sleep(25 * time.Millisecond)
	l.Wait(ctx)
	if got := rate(l); got != 160 {
		t.Errorf("rate %v; want it to stay at the limit", got)
	}
	pauseNow(t, l, 0)
	if got := rate(l); got != 160 {
		t.Errorf("rate %v after a pause following a calm stretch; want 160", got)
	}
	if rep := l.report(); rep.Lowest != 80 || rep.Describe("store") != "throttled 3 times by the store; rate lowered to 80/s" {
		t.Errorf("report %+v, %q", rep, rep.Describe("store"))
	}
}

// TestPauseAfter: a store's answer to a request sent before the current
// pause began, or arriving during it, is counted and changes nothing; one
// to a later request pauses.
func TestPauseAfter(t *testing.T) {
	l := NewLimiter(100)
	before := time.Now()
	l.pauseAfter(before, 50*time.Millisecond)
	l.pauseAfter(time.Now(), 50*time.Millisecond) // during the pause
	l.pauseAfter(before, 0)
	if rep := l.report(); rep.Pauses != 1 || rep.Throttles != 3 {
		t.Errorf("report %+v; want 1 pause of 3 throttles", rep)
	}
	time.Sleep(100 * time.Millisecond)
	l.pauseAfter(time.Now(), 0)
	if rep := l.report(); rep.Pauses != 2 || rep.Lowest != 50 {
		t.Errorf("report %+v; want a second pause that halves the rate", rep)
	}
}

// TestThrottledSummary: the summary's words for both sides.
func TestThrottledSummary(t *testing.T) {
	r := Result{
		SourceThrottling: Throttling{Limit: 150, Throttles: 37, Pauses: 5, Lowest: 75},
		StoreThrottling:  Throttling{Limit: 150, Throttles: 2, Pauses: 1, Lowest: 150},
	}
	if got, want := r.Throttled("source"), "throttled 37 times by the source; rate lowered to 75/s; throttled 2 times by the store"; got != want {
		t.Errorf("%q; want %q", got, want)
	}
	if got := (Result{}).Throttled("source"); got != "" {
		t.Errorf("no throttle: %q", got)
	}
	if got := perSecond(9.375); got != "9.4" {
		t.Errorf("perSecond(9.375) = %q", got)
	}
}
