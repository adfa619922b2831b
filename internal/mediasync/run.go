package mediasync

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// counters are Counts updated by the join and the workers at once.
type counters struct {
	listed, copied, copiedBytes, unchanged, adopted, skipped, raced, deleted, failed, excluded atomic.Int64
}

func (c *counters) snapshot() Counts {
	return Counts{
		Listed: c.listed.Load(), Copied: c.copied.Load(), CopiedBytes: c.copiedBytes.Load(),
		Unchanged: c.unchanged.Load(), Adopted: c.adopted.Load(), Skipped: c.skipped.Load(),
		Raced: c.raced.Load(), Deleted: c.deleted.Load(), Failed: c.failed.Load(), Excluded: c.excluded.Load(),
	}
}

// run is the state of one Mirror call.
type run struct {
	o      Options
	c      counters
	filter filter

	mu       sync.Mutex // guards the fields below and writes to o.Log
	skipped  []string
	failures []ObjectError

	// Keys (relative to the prefix) to delete, at most MaxDelete of them;
	// planned counts them all.
	deletes []string
	planned int64

	lastProgress time.Time
}

func newRun(o Options) *run { return &run{o: o} }

func (r *run) result() Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Result{
		Counts: r.c.snapshot(), SkippedKeys: r.skipped, Failures: r.failures,
		PlannedDeletes: r.planned,
	}
}

// logf writes one line to o.Log.
func (r *run) logf(format string, args ...any) {
	if r.o.Log == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.o.Log, format+"\n", args...)
}

func (r *run) skip(key string, why error) {
	r.c.skipped.Add(1)
	r.logf("skip %q: %v", key, why)
	r.mu.Lock()
	if len(r.skipped) < maxReported {
		r.skipped = append(r.skipped, key)
	}
	r.mu.Unlock()
}

func (r *run) fail(key string, err error) {
	r.c.failed.Add(1)
	r.logf("fail %q: %v", key, err)
	r.mu.Lock()
	if len(r.failures) < maxReported {
		r.failures = append(r.failures, ObjectError{Key: key, Err: err})
	}
	r.mu.Unlock()
}

// progress reports the counts, at most four times a second.
func (r *run) progress() {
	if r.o.Progress == nil || time.Since(r.lastProgress) < 250*time.Millisecond {
		return
	}
	r.lastProgress = time.Now()
	r.o.Progress(r.c.snapshot())
}

// mirror is Mirror after validation: plan and copy in one pass, commit the
// index, then delete.
func (r *run) mirror(ctx context.Context) error {
	if err := r.syncPass(ctx); err != nil {
		return err
	}
	if n := r.c.failed.Load(); n > 0 {
		r.logf("no deletes: %d objects failed", n)
		return fmt.Errorf("mediasync: %d objects failed, nothing deleted; first: %w", n, r.firstFailure())
	}
	return r.deletePass(ctx)
}

func (r *run) firstFailure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failures[0]
}

// syncPass joins the three streams, copies, and commits the new index when
// the whole pass succeeded.
func (r *run) syncPass(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutines on an early return

	idx, closeIdx, exists, err := readIndex(ctx, r.o.Store, IndexKey(r.o.Prefix))
	if err != nil {
		return fmt.Errorf("mediasync: %w", err)
	}
	defer closeIdx()
	dest := r.o.Store
	if r.o.DryRun {
		dest = nil
	}
	iw := newIndexUpdate(ctx, dest, IndexKey(r.o.Prefix), exists)
	src := sourceStream(ctx, r.o.Source.Client, r.o.Source.Bucket, r.o.Source.Prefix, r.filter, r.o.StallTimeout)
	dst := storeStream(ctx, r.o.Store, r.o.Prefix)

	p := r.startPipeline(ctx, iw)
	joinErr := r.join(src, dst, idx, p.emit)
	if joinErr != nil {
		p.cancel() // in-flight copies stop; their Puts commit nothing
	}
	writeErr := p.wait()
	if err := errors.Join(joinErr, writeErr, ctx.Err()); err != nil {
		iw.abort(err)
		return fmt.Errorf("mediasync: %w", err)
	}
	if err := iw.commit(); err != nil {
		return fmt.Errorf("mediasync: %w", err)
	}
	return nil
}
