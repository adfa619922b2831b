package mediasync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/retry"
	"mbackup/internal/stall"
	"mbackup/internal/storage"
)

// RestoreOptions configures Restore: the way back from the mirror into an
// S3 bucket (MinIO, Spaces, any S3 service), for a migration or after the
// media bucket was lost.
type RestoreOptions struct {
	Store  storage.Store
	Prefix string // where the mirror lives in the store, as in Options.Prefix
	// Target is the bucket to fill; Target.Prefix is prepended to each key.
	Target Source
	// ACL, if set, is sent as x-amz-acl with every object ("public-read"
	// for a Mastodon bucket served directly to browsers).
	ACL string
	// PartSize is the multipart part size for large objects; default 16 MiB.
	PartSize   uint64
	Workers    int // default 8
	Retries    int // as in Options
	RetryDelay time.Duration
	DryRun     bool
	Progress   func(Counts)
	Log        io.Writer
	// StallTimeout fails an attempt whose read of the store waited this
	// long for a byte, and the run when a page of the target's listing
	// did; default DefaultStallTimeout.
	StallTimeout time.Duration
	// Include and Exclude are Options.Include and Exclude: the mirror's
	// keys outside them are not copied (Counts.Excluded counts them), and
	// the target is not listed there.
	Include, Exclude []string
	// StoreLimiter, if set, limits the calls to Store as in Options.
	// The target's limit is in its client (NewLimitedSourceClient), and
	// TargetLimiter is that Limiter, for the log and the result
	// (Result.SourceThrottling).
	StoreLimiter, TargetLimiter *Limiter
}

// Restore copies the mirror under o.Prefix into the target bucket,
// incrementally: the store's listing and the bucket's listing are joined as
// two ascending streams, and an object is copied when the bucket lacks it
// or holds it with another size. There is no index on this side: the
// target is usually fresh, and a size check is what a resumed restore
// needs. Restore never deletes from the target. Content-Type is derived
// from the key's extension, since the store keeps no metadata.
//
// In the result, Listed counts the store's objects that Include and
// Exclude cover, Excluded the others.
func Restore(ctx context.Context, o RestoreOptions) (Result, error) {
	start := time.Now()
	if o.Store == nil || o.Target.Client == nil || o.Target.Bucket == "" {
		return Result{}, errors.New("mediasync: restore: no store, target client or bucket")
	}
	if err := checkPrefix(o.Prefix); err != nil {
		return Result{}, err
	}
	if o.PartSize == 0 {
		o.PartSize = 16 << 20
	}
	f, err := newFilter(o.Include, o.Exclude)
	if err != nil {
		return Result{}, err
	}
	lim := limits{source: o.TargetLimiter, store: o.StoreLimiter, st: o.Store, sourceName: "target"}
	o.Store = limitStore(o.Store, o.StoreLimiter)
	mo := Options{Prefix: o.Prefix, Store: o.Store, Workers: o.Workers, Retries: o.Retries,
		RetryDelay: o.RetryDelay, StallTimeout: o.StallTimeout, DryRun: o.DryRun, Progress: o.Progress, Log: o.Log,
		Source: Source{Client: o.Target.Client, Bucket: o.Target.Bucket}}
	if err := mo.setDefaults(); err != nil {
		return Result{}, err
	}
	r := newRun(mo)
	r.filter = f
	rs := &restorer{run: r, o: o}
	stop := lim.watch(r.logf)
	err = rs.restore(ctx)
	stop()
	res := r.result()
	lim.report(&res)
	res.Duration = time.Since(start)
	if o.Progress != nil {
		o.Progress(res.Counts)
	}
	return res, err
}

type restorer struct {
	*run
	o RestoreOptions
}

func (rs *restorer) restore(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src := storeStream(ctx, rs.o.Store, rs.o.Prefix)
	src.name = "store"
	dst := sourceStream(ctx, rs.o.Target.Client, rs.o.Target.Bucket, rs.o.Target.Prefix, rs.filter, rs.run.o.StallTimeout)
	dst.name = "target"

	work := make(chan entry, rs.run.o.Workers)
	var wg sync.WaitGroup
	for range rs.run.o.Workers {
		wg.Go(func() {
			for e := range work {
				rs.restoreItem(ctx, e)
			}
		})
	}
	joinErr := rs.join2(ctx, src, dst, work)
	if joinErr != nil {
		cancel()
	}
	close(work)
	wg.Wait()
	if joinErr != nil {
		return fmt.Errorf("mediasync: restore: %w", joinErr)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mediasync: restore: %w", err)
	}
	if n := rs.c.failed.Load(); n > 0 {
		return fmt.Errorf("mediasync: restore: %d objects failed; first: %w", n, rs.firstFailure())
	}
	return nil
}

// join2 walks the store's listing against the target's and queues what
// the target lacks.
func (rs *restorer) join2(ctx context.Context, src, dst *stream, work chan<- entry) error {
	streams := []*stream{src, dst}
	for _, s := range streams {
		if err := s.advance(); err != nil {
			return err
		}
	}
	for src.ok {
		k := minKey(streams)
		if s := at(src, k); s != nil && !rs.filter.covers(k) {
			rs.c.excluded.Add(1)
		} else if s != nil {
			rs.c.listed.Add(1)
			if d := at(dst, k); d != nil && d.size == s.size {
				rs.c.unchanged.Add(1)
			} else if rs.run.o.DryRun {
				rs.c.copied.Add(1)
				rs.c.copiedBytes.Add(s.size)
			} else {
				select {
				case work <- *s:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		for _, s := range streams {
			if s.ok && s.head.key == k {
				if err := s.advance(); err != nil {
					return err
				}
			}
		}
		rs.progress()
	}
	return nil
}

// restoreItem copies one object from the store into the target bucket.
func (rs *restorer) restoreItem(ctx context.Context, e entry) {
	key := rs.o.Target.Prefix + e.key
	err := retry.Do(ctx, rs.run.o.retryPolicy(), func() error { return rs.restoreOnce(ctx, key, e) })
	if err == nil {
		rs.c.copied.Add(1)
		rs.c.copiedBytes.Add(e.size)
		return
	}
	if ctx.Err() == nil {
		rs.fail(rs.o.Prefix+e.key, err)
	}
}

// restoreOnce streams one object of the store into the target. The reads
// of the store are watched; the target's time between them is not.
func (rs *restorer) restoreOnce(ctx context.Context, key string, e entry) error {
	d := rs.run.o.StallTimeout
	sctx, wd := stall.Watch(ctx, d, fmt.Errorf("store %w: nothing received for %v", stall.ErrStalled, d))
	defer wd.Stop()
	rc, err := rs.o.Store.Get(sctx, rs.o.Prefix+e.key)
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	defer rc.Close()
	po := minio.PutObjectOptions{PartSize: rs.o.PartSize, ContentType: mime.TypeByExtension(path.Ext(key))}
	if rs.o.ACL != "" {
		po.UserMetadata = map[string]string{"x-amz-acl": rs.o.ACL}
	}
	// The listed size is sent as Content-Length: a store object that
	// changed size since the listing fails the upload instead of
	// truncating it.
	if _, err := rs.o.Target.Client.PutObject(ctx, rs.o.Target.Bucket, key, wd.Reader(rc), e.size, po); err != nil {
		if c := stalled(sctx, nil); c != nil {
			return fmt.Errorf("get: %w", c)
		}
		return fmt.Errorf("put: %w", err)
	}
	return nil
}
