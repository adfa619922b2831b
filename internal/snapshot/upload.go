package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"mbackup/internal/dump"
	"mbackup/internal/storage"
	"mbackup/internal/stream"
)

// upload streams one job: producer -> Seal -> pipe -> Store.Put. On any
// failure the Put's context is cancelled and its reader fails before the
// stream could be sealed, so the store commits nothing.
func (t *Taker) upload(ctx context.Context, id string, j Job) (Artifact, error) {
	a := Artifact{Key: ArtifactKey(id, j.Component, j.Name, j.Ext), Component: j.Component, Name: j.Name, Started: t.now().UTC()}
	if err := storage.ValidKey(a.Key); err != nil {
		return a, err
	}
	putCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	type putResult struct {
		obj storage.Object
		err error
	}
	done := make(chan putResult, 1)
	src := &sourceReader{r: pr}
	go func() {
		obj, err := t.Store.Put(putCtx, a.Key, src)
		if err != nil {
			pr.CloseWithError(err) // unblocks the producer: Put gave up
		}
		done <- putResult{obj, err}
	}()
	sums, prod, err := seal(ctx, j, pw, t)
	if err != nil {
		cancel()
		pw.CloseWithError(err)
		put := <-done
		return a, blame(err, put.err, src.failed.Load())
	}
	pw.Close()
	put := <-done
	if put.err != nil {
		return a, put.err
	}
	if put.obj.Size != sums.StoredBytes {
		return a, fmt.Errorf("store confirmed %d bytes, the stream wrote %d", put.obj.Size, sums.StoredBytes)
	}
	a.Info, a.Sums, a.Finished = prod, sums, t.now().UTC()
	return a, nil
}

// seal runs the producer into a sealed stream on w and closes the stream only
// after the producer succeeded.
func seal(ctx context.Context, j Job, w io.Writer, t *Taker) (stream.Sums, dump.Info, error) {
	sw, err := stream.Seal(w, t.Recipients...)
	if err != nil {
		return stream.Sums{}, dump.Info{}, err
	}
	var out io.Writer = sw
	if t.StallTimeout > 0 {
		pctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		wd, stop := watch(sw, t.StallTimeout, cancel)
		defer stop()
		ctx, out = pctx, wd
	}
	prod, err := j.Produce(ctx, out)
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, ErrStalled) {
		err = cause
	}
	if err != nil {
		return stream.Sums{}, prod, err
	}
	if err := sw.Close(); err != nil {
		return stream.Sums{}, prod, err
	}
	return sw.Sums(), prod, nil
}

// blame picks the error that explains a failed upload: the store's, when
// the store gave up on its own (the producer then only saw its pipe closed
// or was killed by SIGPIPE), else the producer's alone. When the store
// failed only because its reader handed it the producer's error
// (sawProducer), the store is not to blame and its wrapping ("local: put
// KEY: ...") goes: the cause comes first.
func blame(produceErr, putErr error, sawProducer bool) error {
	if putErr != nil && !sawProducer && !errors.Is(putErr, context.Canceled) {
		return putErr
	}
	return produceErr
}

// sourceReader is what the store reads: it records whether a read
// returned an error other than io.EOF, which can only be the producer's
// (the pipe is closed with the store's own error only after Put returned).
type sourceReader struct {
	r      io.Reader
	failed atomic.Bool
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.failed.Store(true)
	}
	return n, err
}
