package stall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// tick is the timeout of the tests; they wait up to 100 ticks for what must
// happen, and assert only lower bounds on time.
const tick = 100 * time.Millisecond

// cancelled waits until ctx ends, up to 100 ticks.
func cancelled(t *testing.T, ctx context.Context) error {
	t.Helper()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(100 * tick):
		t.Fatal("the watchdog never cancelled")
		return nil
	}
}

// alive fails if ctx ended.
func alive(t *testing.T, ctx context.Context, why string) {
	t.Helper()
	if err := context.Cause(ctx); err != nil {
		t.Fatalf("%s: cancelled with %v", why, err)
	}
}

// settled waits for the goroutine count to fall back to before.
func settled(t *testing.T, before int) {
	t.Helper()
	n := runtime.NumGoroutine()
	for i := 0; i < 200 && n > before; i++ {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > before {
		t.Errorf("%d goroutines before, %d after", before, n)
	}
}

// TestSilentStreamIsCancelled: a wait without progress cancels after the
// timeout, not before, with a cause that is ErrStalled.
func TestSilentStreamIsCancelled(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, w := Watch(context.Background(), tick, nil)
	start := time.Now()
	w.Enter()
	err := cancelled(t, ctx)
	if took := time.Since(start); took < tick {
		t.Errorf("cancelled after %v; the timeout is %v", took, tick)
	}
	if !errors.Is(err, ErrStalled) || err.Error() != "stalled: no progress for 100ms" {
		t.Errorf("cause %v", err)
	}
	w.Stop()
	settled(t, before)
}

// TestProgressKeepsTheStreamAlive: reads that bring bytes more often than
// the timeout never stall, for ten timeouts; silence afterwards does.
func TestProgressKeepsTheStreamAlive(t *testing.T) {
	pr, pw := io.Pipe()
	ctx, w := Watch(context.Background(), 10*tick, nil)
	defer w.Stop()
	go func() {
		for range 100 {
			time.Sleep(tick / 10)
			pw.Write([]byte("x"))
		}
	}()
	r := w.Reader(pr)
	buf := make([]byte, 1)
	for range 100 {
		if _, err := r.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	alive(t, ctx, "a reader that got a byte every tenth of the timeout")
	go r.Read(buf) // the writer is gone: this read waits forever
	if err := cancelled(t, ctx); !errors.Is(err, ErrStalled) {
		t.Errorf("cause %v", err)
	}
	pw.Close()
}

// TestConsumerTimeIsNotCounted: the clock does not run between reads (the
// consumer's time) nor while no wait is under way.
func TestConsumerTimeIsNotCounted(t *testing.T) {
	ctx, w := Watch(context.Background(), tick, nil)
	defer w.Stop()
	r := w.Reader(strings.NewReader("abc"))
	buf := make([]byte, 1)
	for range 3 {
		if _, err := r.Read(buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * tick) // the consumer takes its time
	}
	alive(t, ctx, "a slow consumer")
	w.Enter()
	w.Leave()
	time.Sleep(3 * tick)
	alive(t, ctx, "after the wait ended")
}

// TestNestedWaits: the clock runs until the last of overlapping waits
// ends, from the start of the first.
func TestNestedWaits(t *testing.T) {
	ctx, w := Watch(context.Background(), tick, nil)
	defer w.Stop()
	w.Enter()
	w.Enter()
	w.Leave()
	if err := cancelled(t, ctx); !errors.Is(err, ErrStalled) {
		t.Errorf("cause %v", err)
	}
}

// TestBlockedWriteIsNotAStall: a watched writer is awaited between its
// writes only; a write held back by its destination for longer than the
// timeout does not count, silence after it does.
func TestBlockedWriteIsNotAStall(t *testing.T) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w := New(2*tick, cancel, fmt.Errorf("producer %w: wrote nothing", ErrStalled))
	defer w.Stop()
	out := w.Writer(pw)
	go func() {
		time.Sleep(10 * tick) // the destination takes its time
		io.Copy(io.Discard, pr)
	}()
	if _, err := out.Write([]byte("held back")); err != nil {
		t.Fatal(err)
	}
	alive(t, ctx, "a blocked write")
	start := time.Now()
	err := cancelled(t, ctx)
	if took := time.Since(start); took < 2*tick {
		t.Errorf("cancelled %v after the write; the timeout is %v", took, 2*tick)
	}
	if err == nil || err.Error() != "producer stalled: wrote nothing" {
		t.Errorf("cause %v", err)
	}
	pr.Close()
}

// TestCauseKeepsItsText: a cause of the caller's making keeps its text and
// what it wraps, and is ErrStalled.
func TestCauseKeepsItsText(t *testing.T) {
	cause := fmt.Errorf("part 2: no progress for %v: %w", tick, context.DeadlineExceeded)
	ctx, w := Watch(context.Background(), tick, cause)
	defer w.Stop()
	w.Enter()
	err := cancelled(t, ctx)
	if !errors.Is(err, ErrStalled) || !errors.Is(err, context.DeadlineExceeded) || err.Error() != cause.Error() {
		t.Errorf("cause %v", err)
	}
	if !errors.Is(w.Cause(), ErrStalled) {
		t.Errorf("Cause() = %v", w.Cause())
	}
}

// TestStopEndsTheWatch: a stopped watchdog never cancels with a stall, and
// none leaves a goroutine or a timer behind, whether stopped, fired or
// ended with its parent.
func TestStopEndsTheWatch(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, w := Watch(context.Background(), tick, nil)
	w.Enter()
	w.Stop()
	time.Sleep(3 * tick)
	if err := context.Cause(ctx); errors.Is(err, ErrStalled) {
		t.Errorf("a stopped watchdog cancelled with %v", err)
	}
	parent, cancel := context.WithCancel(context.Background())
	for range 100 {
		ctx, w := Watch(parent, tick/10, nil)
		w.Enter()
		go w.Reader(strings.NewReader("x")).Read(make([]byte, 1))
		_ = ctx
	}
	time.Sleep(3 * tick) // they all fire
	for range 100 {
		_, w := Watch(parent, 100*tick, nil)
		w.Enter()
	}
	cancel() // the parent ends the rest
	settled(t, before)
}

// readerAtFunc is an io.ReaderAt.
type readerAtFunc func(p []byte, off int64) (int, error)

func (f readerAtFunc) ReadAt(p []byte, off int64) (int, error) { return f(p, off) }

// TestReaderKeepsReaderAt: the reader of a file can still be read by
// offsets, and a ReadAt is watched like a Read.
func TestReaderKeepsReaderAt(t *testing.T) {
	ctx, w := Watch(context.Background(), tick, nil)
	defer w.Stop()
	file := strings.NewReader("0123456789")
	r := w.Reader(file)
	ra, ok := r.(io.ReaderAt)
	if !ok {
		t.Fatalf("the reader of a %T is no io.ReaderAt", file)
	}
	buf := make([]byte, 3)
	if n, err := ra.ReadAt(buf, 5); n != 3 || string(buf) != "567" || err != nil {
		t.Fatalf("ReadAt = %d %q %v", n, buf, err)
	}
	if _, ok := w.Reader(io.MultiReader(file)).(io.ReaderAt); ok {
		t.Error("a reader that is no io.ReaderAt became one")
	}
	hang := make(chan struct{})
	defer close(hang)
	go w.Reader(struct {
		io.Reader
		io.ReaderAt
	}{file, readerAtFunc(func([]byte, int64) (int, error) { <-hang; return 0, io.EOF })}).(io.ReaderAt).ReadAt(buf, 0)
	if err := cancelled(t, ctx); !errors.Is(err, ErrStalled) {
		t.Errorf("cause %v", err)
	}
}

// TestStopLeavesTheCallersContext: Stop of a watchdog made by New ends the
// watch but leaves the caller's context alone.
func TestStopLeavesTheCallersContext(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w := New(tick, cancel, nil)
	w.Enter()
	w.Stop()
	w.Stop()
	time.Sleep(3 * tick)
	alive(t, ctx, "after Stop")
}
