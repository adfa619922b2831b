package mediasync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/retry"
	"mbackup/internal/stall"
	"mbackup/internal/storage"
)

// errRaced marks a source object deleted or replaced since it was listed.
var errRaced = errors.New("changed at the source during the run")

// copyItem copies one object with retries and accounts for the outcome.
func (r *run) copyItem(ctx context.Context, it *item) {
	srcKey := r.o.Source.Prefix + it.rec.key
	err := retry.Do(ctx, r.o.retryPolicy(), func() error {
		err := r.copyOnce(ctx, srcKey, it.rec)
		if errors.Is(err, errRaced) {
			return retry.Stop(err)
		}
		return err
	})
	switch {
	case err == nil:
		r.c.copied.Add(1)
		r.c.copiedBytes.Add(it.rec.size)
	case errors.Is(err, errRaced):
		it.raced = true
		r.c.raced.Add(1)
		r.logf("raced %q: %v", srcKey, err)
	case ctx.Err() != nil:
		// The run is being cancelled; its error says so.
		it.err = ctx.Err()
	default:
		it.err = err
		r.fail(srcKey, err)
	}
}

// copyOnce streams the source object into the store. The GET is pinned to
// the listed ETag, so a replaced object fails with errRaced instead of
// being recorded under the old ETag. A short or long body fails the Put,
// which then commits nothing, and so does a source that stalls: the reads
// of the body (the GET included) are watched, the store's time between
// them is not.
func (r *run) copyOnce(ctx context.Context, srcKey string, e entry) error {
	sctx, wd := stall.Watch(ctx, r.o.StallTimeout, errSourceStalled(r.o.StallTimeout))
	defer wd.Stop()
	opts := minio.GetObjectOptions{}
	if e.etag != "" {
		if err := opts.SetMatchETag(e.etag); err != nil {
			return err
		}
	}
	// GetObject is lazy: the GET goes out on the first Read (Stat would add
	// a HEAD), so a missing object surfaces as a read error of body.
	obj, err := r.o.Source.Client.GetObject(sctx, r.o.Source.Bucket, srcKey, opts)
	if err != nil {
		return sourceError(err)
	}
	defer obj.Close()
	body := &exactReader{r: wd.Reader(obj), want: e.size}
	if err := put(ctx, r.o.Store, r.o.Prefix+e.key, body, e.size); err != nil {
		if body.err != nil {
			return sourceError(stalled(sctx, body.err))
		}
		return fmt.Errorf("put: %w", err)
	}
	return nil
}

// SizedPutter is a store that can take an object of known size in fewer
// requests or less memory than Put (the s3 store: one PUT request below a
// part, no buffer).
type SizedPutter interface {
	PutSized(ctx context.Context, key string, r io.Reader, size int64) (storage.Object, error)
}

// put stores r, of size bytes, with PutSized when st has it.
func put(ctx context.Context, st storage.Store, key string, r io.Reader, size int64) error {
	var err error
	if sp, ok := st.(SizedPutter); ok {
		_, err = sp.PutSized(ctx, key, r, size)
	} else {
		_, err = st.Put(ctx, key, r)
	}
	return err
}

// errSourceStalled is the cause of a read of the source cancelled by its
// watchdog.
func errSourceStalled(d time.Duration) error {
	return fmt.Errorf("source %w: nothing received for %v", stall.ErrStalled, d)
}

// stalled returns the watchdog's cause when it cancelled ctx, else err.
func stalled(ctx context.Context, err error) error {
	if c := context.Cause(ctx); errors.Is(c, stall.ErrStalled) {
		return c
	}
	return err
}

// sourceError classifies an error of the source GET.
func sourceError(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "PreconditionFailed":
		return fmt.Errorf("%w: %v", errRaced, err)
	}
	return fmt.Errorf("get: %w", err)
}

// exactReader fails unless the stream has exactly want bytes.
type exactReader struct {
	r    io.Reader
	want int64
	n    int64
	err  error // the source's own error, or a size mismatch
}

func (x *exactReader) Read(p []byte) (int, error) {
	n, err := x.r.Read(p)
	x.n += int64(n)
	switch {
	case x.n > x.want:
		x.err = fmt.Errorf("source sent more than the listed %d bytes", x.want)
	case err == io.EOF && x.n != x.want:
		x.err = fmt.Errorf("source sent %d bytes, listed %d", x.n, x.want)
	case err != nil && err != io.EOF:
		x.err = err
	}
	if x.err != nil {
		return n, x.err
	}
	return n, err
}

// retryPolicy is how the copy or delete of one object is retried: up to
// Retries more tries after the first, the first pause at most RetryDelay.
func (o Options) retryPolicy() retry.Policy {
	return retry.Policy{Attempts: o.Retries + 1, Base: o.RetryDelay}
}
