package mediasync

import (
	"context"
	"fmt"
	"sync"

	"mbackup/internal/retry"
)

// deletePass removes the store objects the source no longer has. It runs
// only after a pass without any error, and deletes nothing when the plan
// exceeds MaxDelete: a misconfigured or suddenly empty source must not
// empty the mirror.
func (r *run) deletePass(ctx context.Context) error {
	if !r.o.Delete || r.planned == 0 {
		return nil
	}
	if r.planned > r.o.MaxDelete {
		r.logf("no deletes: %d planned, limit %d", r.planned, r.o.MaxDelete)
		return fmt.Errorf("mediasync: %w: the source no longer has %d mirrored objects, the limit is %d; nothing deleted",
			ErrDeleteLimit, r.planned, r.o.MaxDelete)
	}
	keys := make(chan string)
	var wg sync.WaitGroup
	for range r.o.Workers {
		wg.Go(func() {
			for k := range keys {
				r.deleteOne(ctx, r.o.Prefix+k)
			}
		})
	}
	for _, k := range r.deletes {
		if ctx.Err() != nil {
			break
		}
		keys <- k
	}
	close(keys)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mediasync: delete: %w", err)
	}
	if n := r.c.failed.Load(); n > 0 {
		return fmt.Errorf("mediasync: %d deletes failed; first: %w", n, r.firstFailure())
	}
	return nil
}

func (r *run) deleteOne(ctx context.Context, key string) {
	if r.o.DryRun {
		r.c.deleted.Add(1)
		r.logf("would delete %q", key)
		return
	}
	err := retry.Do(ctx, r.o.retryPolicy(), func() error { return r.o.Store.Delete(ctx, key) })
	if err == nil {
		r.c.deleted.Add(1)
		r.logf("delete %q", key)
		return
	}
	if ctx.Err() == nil {
		r.fail(key, fmt.Errorf("delete: %w", err))
	}
}
