package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/stall"
	"mbackup/internal/storage"
)

// maxParts is the most parts one multipart upload may have.
const maxParts = 10000

// Put streams r to key as a multipart upload of Config.PartSize parts, one
// part in memory at a time. Creating and completing the upload are calls
// bounded by CallTimeout; each part fails once the connection took none of
// its bytes for IdleTimeout, retries included. A failed Put aborts its
// upload within CallTimeout; if even that fails, SweepUnfinished removes it
// later.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (storage.Object, error) {
	if err := storage.ValidKey(key); err != nil {
		return storage.Object{}, fmt.Errorf("s3: put: %w", err)
	}
	n, err := s.put(ctx, s.cfg.Prefix+key, &stickyReader{r: r, ctx: ctx})
	if err != nil {
		return storage.Object{}, fmt.Errorf("s3: put %s: %w", key, err)
	}
	// CompleteMultipartUpload reports no time; Stat and List give the
	// server's. The local clock at completion is close to it.
	return storage.Object{Key: key, Size: n, Modified: time.Now()}, nil
}

// put uploads sr to the bucket's object name and returns its size.
func (s *Store) put(ctx context.Context, name string, sr *stickyReader) (n int64, err error) {
	id, err := s.createUpload(ctx, name)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			s.abortUpload(ctx, name, id)
		}
	}()
	parts, n, err := s.putParts(ctx, name, id, sr)
	if err != nil {
		return 0, err
	}
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	_, err = s.core.CompleteMultipartUpload(cctx, s.cfg.Bucket, name, id, parts, minio.PutObjectOptions{})
	if err != nil {
		return 0, fmt.Errorf("complete multipart upload: %w", s.cause(cctx, err, nil))
	}
	return n, nil
}

// createUpload starts a multipart upload and returns its id.
func (s *Store) createUpload(ctx context.Context, name string) (string, error) {
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	id, err := s.core.NewMultipartUpload(cctx, s.cfg.Bucket, name, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return "", fmt.Errorf("create multipart upload: %w", s.cause(cctx, err, nil))
	}
	return id, nil
}

// abortUpload aborts a failed upload so its parts are not kept, even when
// ctx was cancelled. Its error is dropped: the Put has failed already, and
// SweepUnfinished removes what is left.
func (s *Store) abortUpload(ctx context.Context, name, id string) {
	_ = s.abort(context.WithoutCancel(ctx), name, id)
}

// putParts reads sr one part at a time and uploads each, until io.EOF. A
// reader error fails it (stickyReader keeps minio-go's io.ReadFull habits
// from hiding one), and so does data beyond maxParts parts.
func (s *Store) putParts(ctx context.Context, name, id string, sr *stickyReader) ([]minio.CompletePart, int64, error) {
	buf := make([]byte, s.cfg.PartSize)
	var parts []minio.CompletePart
	var total int64
	for n := 1; ; n++ {
		if n > maxParts {
			if _, err := io.ReadFull(sr, buf[:1]); err != io.EOF {
				if err == nil {
					err = fmt.Errorf("larger than %d parts of %d bytes", maxParts, s.cfg.PartSize)
				}
				return nil, 0, err
			}
			break
		}
		size, rerr := io.ReadFull(sr, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return nil, 0, rerr
		}
		if rerr == io.EOF && n > 1 {
			break
		}
		part, err := s.putPart(ctx, name, id, n, buf[:size])
		if err != nil {
			return nil, 0, err
		}
		parts = append(parts, part)
		total += int64(size)
		if rerr != nil {
			break
		}
	}
	return parts, total, nil
}

// putPart uploads one part. minio-go retries it from its first byte; a
// watchdog cancels the whole part, retries included, once no byte beyond
// the furthest one sent so far was taken for IdleTimeout.
func (s *Store) putPart(ctx context.Context, name, id string, n int, data []byte) (minio.CompletePart, error) {
	stalled := fmt.Errorf("part %d: no progress for %v: %w", n, s.cfg.IdleTimeout, context.DeadlineExceeded)
	ctx, wd := stall.Watch(ctx, s.cfg.IdleTimeout, stalled)
	defer wd.Stop()
	wd.Enter() // the part is awaited from now on
	body := &progressReader{r: bytes.NewReader(data), wd: wd}
	p, err := s.core.PutObjectPart(ctx, s.cfg.Bucket, name, id, n, body, int64(len(data)), minio.PutObjectPartOptions{})
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, stall.ErrStalled) {
			return minio.CompletePart{}, cause
		}
		return minio.CompletePart{}, fmt.Errorf("part %d: %w", n, s.cause(ctx, err, nil))
	}
	return minio.CompletePart{PartNumber: n, ETag: p.ETag}, nil
}

// progressReader is a part's body: a seekable reader (so minio-go may
// retry) whose furthest read position advancing is the watchdog's
// progress.
type progressReader struct {
	mu   sync.Mutex
	r    *bytes.Reader
	high int64
	wd   *stall.Watchdog
}

// Read reads, telling the watchdog when it reaches new bytes.
func (p *progressReader) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, err := p.r.Read(b)
	if pos := p.r.Size() - int64(p.r.Len()); pos > p.high {
		p.high = pos
		p.wd.Progress()
	}
	return n, err
}

// Seek rewinds for a retry; bytes read again are no progress.
func (p *progressReader) Seek(offset int64, whence int) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.r.Seek(offset, whence)
}

// stickyReader guards the part reads against readers whose errors could be
// lost: io.ReadFull drops an error returned together with a full buffer and
// cannot tell a reader's own io.ErrUnexpectedEOF from a short last part;
// either would complete the upload with a truncated body. So the first
// error other than io.EOF is wrapped (no longer == io.ErrUnexpectedEOF) and
// returned by every later Read, and a cancelled ctx fails the read.
type stickyReader struct {
	r   io.Reader
	ctx context.Context
	err error // first error other than io.EOF
}

// Read reads from the wrapped reader until the first error, then repeats it.
func (s *stickyReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if err := s.ctx.Err(); err != nil {
		s.err = err
		return 0, err
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = fmt.Errorf("read: %w", err)
		return n, s.err
	}
	return n, err
}
