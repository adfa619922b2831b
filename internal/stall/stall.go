// Package stall cancels a byte stream that makes no progress: one watchdog
// for the producers of a snapshot, the transfers of the stores and the
// reads of the media source.
//
// A Watchdog's clock runs only while the stream is awaited: between Enter
// and the matching Leave (counted, so overlapping waits nest). Progress
// restarts the clock, and so does the start of a wait after none. Time
// spent on the other side of the stream (the consumer between reads, the
// store inside a producer's write) is not awaited time, so a slow peer on
// that side is never taken for a stall.
//
// Invariant: the watchdog cancels its context, with a cause that
// errors.Is ErrStalled, if and only if the stream was awaited for the
// whole timeout with no progress; it cancels at most once, never after
// Stop or after its context ended, and keeps no goroutine between checks:
// a timer fires at the earliest moment a stall is possible.
package stall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// ErrStalled is the cause of a stream cancelled by a Watchdog.
var ErrStalled = errors.New("stalled")

// Watchdog watches one stream. Its methods are safe for concurrent use.
type Watchdog struct {
	timeout time.Duration
	cancel  context.CancelCauseFunc
	cause   error
	owned   bool // made by Watch: Stop cancels the context

	mu      sync.Mutex
	waiting int       // waits under way
	since   time.Time // last progress, or when waiting began
	timer   *time.Timer
	armed   bool // the timer is set to fire
	done    bool // stopped or fired
}

// New returns a watchdog that calls cancel with cause once the stream was
// awaited for timeout without progress. A cause that does not wrap
// ErrStalled is made to (its text is kept); nil gives "stalled: no
// progress for <timeout>". The watchdog starts with no wait under way.
func New(timeout time.Duration, cancel context.CancelCauseFunc, cause error) *Watchdog {
	switch {
	case cause == nil:
		cause = fmt.Errorf("%w: no progress for %v", ErrStalled, timeout)
	case !errors.Is(cause, ErrStalled):
		cause = stalledError{cause}
	}
	return &Watchdog{timeout: timeout, cancel: cancel, cause: cause}
}

// Watch returns a context derived from parent and a watchdog that cancels
// it (see New). The watchdog stops when the context ends; Stop also
// cancels the context.
func Watch(parent context.Context, timeout time.Duration, cause error) (context.Context, *Watchdog) {
	ctx, cancel := context.WithCancelCause(parent)
	w := New(timeout, cancel, cause)
	w.owned = true
	context.AfterFunc(ctx, w.stop)
	return ctx, w
}

// Cause returns the error the watchdog cancels with.
func (w *Watchdog) Cause() error { return w.cause }

// Stop ends the watch and, for a watchdog made by Watch, cancels its
// context (with nil cause: context.Canceled). It may be called more than
// once.
func (w *Watchdog) Stop() {
	w.stop()
	if w.owned {
		w.cancel(nil)
	}
}

func (w *Watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
}

// Enter marks the start of a wait on the stream. The clock starts from now
// unless another wait is under way.
func (w *Watchdog) Enter() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting == 0 {
		w.since = time.Now()
	}
	w.waiting++
	w.arm(w.timeout)
}

// Leave marks the end of what Enter started.
func (w *Watchdog) Leave() {
	w.mu.Lock()
	w.waiting--
	w.mu.Unlock()
}

// Progress restarts the clock.
func (w *Watchdog) Progress() {
	w.mu.Lock()
	w.since = time.Now()
	w.mu.Unlock()
}

// arm sets the timer to fire after d unless it is set already (it then
// fires earlier, and fire sets it again). w.mu is held.
func (w *Watchdog) arm(d time.Duration) {
	if w.armed || w.done {
		return
	}
	w.armed = true
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.fire)
		return
	}
	w.timer.Reset(d)
}

// fire cancels on a stall, else sets the timer for the next moment one is
// possible. Progress only moves since: the timer catches up here.
func (w *Watchdog) fire() {
	w.mu.Lock()
	w.armed = false
	if w.done || w.waiting == 0 {
		w.mu.Unlock()
		return
	}
	if left := w.timeout - time.Since(w.since); left > 0 {
		w.arm(left)
		w.mu.Unlock()
		return
	}
	w.done = true
	w.mu.Unlock()
	w.cancel(w.cause)
}

// Reader returns r watched as the stream: each Read is a wait, and a Read
// that returns bytes is progress. Time between reads is the consumer's and
// does not count. When r is an io.ReaderAt so is the result, its ReadAt
// watched the same way, so that a consumer that reads a file by offsets
// (minio-go's parallel upload) still can.
func (w *Watchdog) Reader(r io.Reader) io.Reader {
	wr := &reader{r: r, w: w}
	if ra, ok := r.(io.ReaderAt); ok {
		return &readerAt{reader: wr, ra: ra}
	}
	return wr
}

type reader struct {
	r io.Reader
	w *Watchdog
}

func (r *reader) Read(p []byte) (int, error) {
	r.w.Enter()
	defer r.w.Leave()
	n, err := r.r.Read(p)
	if n > 0 {
		r.w.Progress()
	}
	return n, err
}

type readerAt struct {
	*reader
	ra io.ReaderAt
}

func (r *readerAt) ReadAt(p []byte, off int64) (int, error) {
	r.w.Enter()
	defer r.w.Leave()
	n, err := r.ra.ReadAt(p, off)
	if n > 0 {
		r.w.Progress()
	}
	return n, err
}

// Writer returns dst for a writer watched as the stream: the writer is
// awaited from now on, except during its writes, whose time is dst's; the
// clock restarts after each write. Stop ends the wait.
func (w *Watchdog) Writer(dst io.Writer) io.Writer {
	w.Enter()
	return &writer{dst: dst, w: w}
}

type writer struct {
	dst io.Writer
	w   *Watchdog
}

func (x *writer) Write(p []byte) (int, error) {
	x.w.Leave()
	defer x.w.Enter()
	return x.dst.Write(p)
}

// stalledError gives a cause of the caller's making the identity of
// ErrStalled.
type stalledError struct{ err error }

func (e stalledError) Error() string        { return e.err.Error() }
func (e stalledError) Unwrap() error        { return e.err }
func (e stalledError) Is(target error) bool { return target == ErrStalled }

// ContextReader returns a reader of r that fails with ctx's error once ctx
// is done, so that a copy from a reader that never blocks (a file) stops.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
