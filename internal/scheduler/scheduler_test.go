package scheduler

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestInterval(t *testing.T) {
	now := time.Date(2026, 3, 8, 1, 0, 0, 0, time.UTC)
	for spec, want := range map[string]time.Duration{
		"0 */12 * * *": 12 * time.Hour, "@every 2s": 2 * time.Second, "@daily": 24 * time.Hour, "30 2 * * *": 24 * time.Hour,
	} {
		if got, err := Interval(spec, now); err != nil || got != want {
			t.Errorf("Interval(%q) = %v, %v; want %v", spec, got, err, want)
		}
	}
	if _, err := Parse("0 30 2 * * *"); err == nil {
		t.Error("a six-field schedule was accepted")
	}
}

// TestPanicDoesNotStopTheJob: with Recover inside SkipIfStillRunning a
// panicking run is logged and the next runs still happen.
func TestPanicDoesNotStopTheJob(t *testing.T) {
	s := New(context.Background(), quiet())
	runs := make(chan int, 10)
	var n atomic.Int32
	s.Add("backup", "@every 1s", func(context.Context) {
		k := int(n.Add(1))
		runs <- k
		if k == 1 {
			panic("first run fails")
		}
	})
	s.Start()
	defer s.Stop()
	for want := 1; want <= 3; want++ {
		select {
		case <-runs:
		case <-time.After(30 * time.Second):
			t.Fatalf("run %d never came: the panic stopped the job", want)
		}
	}
}

// TestOverlapSkipped: runs that come due while one runs are skipped, and
// Stop cancels the running one and waits for it.
func TestOverlapSkipped(t *testing.T) {
	s := New(context.Background(), quiet())
	var running, most, total atomic.Int32
	started := make(chan struct{}, 10)
	returned := make(chan struct{})
	s.Add("backup", "@every 1s", func(ctx context.Context) {
		total.Add(1)
		if r := running.Add(1); r > most.Load() {
			most.Store(r)
		}
		started <- struct{}{}
		<-ctx.Done()
		running.Add(-1)
		close(returned)
	})
	s.Start()
	<-started
	s.RunNow("backup")                  // catch-up while a run is in progress: skipped too
	time.Sleep(2500 * time.Millisecond) // two more runs come due meanwhile
	<-s.Stop().Done()
	select {
	case <-returned:
	default:
		t.Fatal("Stop returned before the running job did")
	}
	if most.Load() != 1 || total.Load() != 1 {
		t.Errorf("%d runs, at most %d at once; want 1 and 1", total.Load(), most.Load())
	}
}

// TestStopWaitsForRunNow: a run started by RunNow (the daemon's catch-up
// at start) is cancelled by Stop, which waits until it has returned: a
// daemon that returned while it ran left its store lock held, and the next
// start's catch-up found the store busy. After Stop, RunNow starts nothing.
func TestStopWaitsForRunNow(t *testing.T) {
	s := New(context.Background(), quiet())
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	var returned atomic.Bool
	s.Add("backup", "0 0 1 1 *", func(ctx context.Context) {
		started <- struct{}{}
		<-ctx.Done()
		<-release // the cancelled run still cleans up
		returned.Store(true)
	})
	s.Start()
	s.RunNow("backup")
	<-started
	done := s.Stop()
	select {
	case <-done.Done():
		t.Fatal("Stop was done while the RunNow run still ran")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	select {
	case <-done.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("Stop never done after the RunNow run returned")
	}
	if !returned.Load() {
		t.Error("Stop was done before the RunNow run returned")
	}
	s.RunNow("backup")
	select {
	case <-started:
		t.Error("RunNow started a run after Stop")
	case <-time.After(100 * time.Millisecond):
	}
}
