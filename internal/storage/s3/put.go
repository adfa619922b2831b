package s3

import (
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

// Put stores r under key. It reads up to one part (Config.PartSize) first:
// an object that ends within it is sent with a single PUT; a larger one is
// a multipart upload of PartSize parts, one part in memory at a time. The
// buffer grows with the data (see partBuf), so a small object costs about
// its size. Creating and completing an upload, and a single PUT's wait for
// its answer, are bounded by CallTimeout; each part or single PUT fails
// once the connection took none of its bytes for IdleTimeout, retries
// included. A failed Put aborts its upload within CallTimeout; if even that
// fails, SweepUnfinished removes it later.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (storage.Object, error) {
	if err := storage.ValidKey(key); err != nil {
		return storage.Object{}, fmt.Errorf("s3: put: %w", err)
	}
	n, err := s.put(ctx, s.cfg.Prefix+key, &stickyReader{r: r, ctx: ctx})
	if err != nil {
		return storage.Object{}, fmt.Errorf("s3: put %s: %w", key, err)
	}
	// Neither PUT nor CompleteMultipartUpload reports a time; Stat and List
	// give the server's. The local clock at completion is close to it.
	return storage.Object{Key: key, Size: n, Modified: time.Now()}, nil
}

// PutSized stores exactly size bytes of r under key. An object smaller than
// one part is streamed with a single PUT and no buffer (minio-go cannot
// retry it: the caller tries again with a new reader); a reader with fewer
// or more bytes than size fails it and nothing is stored. A larger object,
// a negative size (unknown), or any object under Config.Lock (whose
// requests carry a Content-MD5) is Put.
func (s *Store) PutSized(ctx context.Context, key string, r io.Reader, size int64) (storage.Object, error) {
	if size < 0 || size >= s.cfg.PartSize || s.cfg.Lock.Mode != "" {
		return s.Put(ctx, key, &sizedReader{r: r, want: size})
	}
	if err := storage.ValidKey(key); err != nil {
		return storage.Object{}, fmt.Errorf("s3: put: %w", err)
	}
	body := &sizedReader{r: &stickyReader{r: r, ctx: ctx}, want: size}
	if err := s.putSingle(ctx, s.cfg.Prefix+key, body, size, ""); err != nil {
		if body.err != nil {
			err = body.err
		}
		return storage.Object{}, fmt.Errorf("s3: put %s: %w", key, err)
	}
	return storage.Object{Key: key, Size: size, Modified: time.Now()}, nil
}

// put uploads sr to the bucket's object name and returns its size.
func (s *Store) put(ctx context.Context, name string, sr *stickyReader) (int64, error) {
	buf := newPartBuf(s.cfg.PartSize)
	switch err := buf.fill(sr); err {
	case io.EOF:
		return int64(buf.n), s.putSingle(ctx, name, buf.reader(), int64(buf.n), s.lockMD5(buf))
	case nil:
		return s.putMultipart(ctx, name, sr, buf)
	default:
		return 0, err
	}
}

// putSingle sends body, of size bytes, with one PUT request, under the
// same watchdog as a part; md5, when not empty, is its Content-MD5.
func (s *Store) putSingle(ctx context.Context, name string, body io.Reader, size int64, md5 string) error {
	stalled := fmt.Errorf("put: no progress for %v: %w", s.cfg.IdleTimeout, context.DeadlineExceeded)
	ctx, wd := stall.Watch(ctx, s.cfg.IdleTimeout, stalled)
	defer wd.Stop()
	wd.Enter()
	_, err := s.core.PutObject(ctx, s.cfg.Bucket, name, newProgress(body, wd), size, md5, "",
		s.putOptions())
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, stall.ErrStalled) {
			return cause
		}
		return s.cause(ctx, err, nil)
	}
	return nil
}

// putMultipart uploads buf, the first part already read, and the rest of
// sr as a multipart upload, and returns the size.
func (s *Store) putMultipart(ctx context.Context, name string, sr *stickyReader, buf *partBuf) (n int64, err error) {
	id, err := s.createUpload(ctx, name)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			s.abortUpload(ctx, name, id)
		}
	}()
	parts, n, err := s.putParts(ctx, name, id, sr, buf)
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
	id, err := s.core.NewMultipartUpload(cctx, s.cfg.Bucket, name, s.putOptions())
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

// putParts uploads buf, a full first part, then reads sr one part at a
// time into buf and uploads each, until io.EOF. A reader error fails it
// (stickyReader keeps an error from being lost between reads), and so does
// data beyond maxParts parts.
func (s *Store) putParts(ctx context.Context, name, id string, sr *stickyReader, buf *partBuf) ([]minio.CompletePart, int64, error) {
	var parts []minio.CompletePart
	var total int64
	for n := 1; ; n++ {
		var rerr error
		if n > 1 {
			if rerr = buf.fill(sr); rerr != nil && rerr != io.EOF {
				return nil, 0, rerr
			}
			if buf.n == 0 {
				break
			}
		}
		if n > maxParts {
			return nil, 0, fmt.Errorf("larger than %d parts of %d bytes", maxParts, s.cfg.PartSize)
		}
		part, err := s.putPart(ctx, name, id, n, buf)
		if err != nil {
			return nil, 0, err
		}
		parts = append(parts, part)
		total += int64(buf.n)
		if rerr != nil {
			break
		}
	}
	return parts, total, nil
}

// putPart uploads one part. minio-go retries it from its first byte; a
// watchdog cancels the whole part, retries included, once no byte beyond
// the furthest one sent so far was taken for IdleTimeout.
func (s *Store) putPart(ctx context.Context, name, id string, n int, buf *partBuf) (minio.CompletePart, error) {
	stalled := fmt.Errorf("part %d: no progress for %v: %w", n, s.cfg.IdleTimeout, context.DeadlineExceeded)
	ctx, wd := stall.Watch(ctx, s.cfg.IdleTimeout, stalled)
	defer wd.Stop()
	wd.Enter() // the part is awaited from now on
	body := newProgress(buf.reader(), wd)
	p, err := s.core.PutObjectPart(ctx, s.cfg.Bucket, name, id, n, body, int64(buf.n),
		minio.PutObjectPartOptions{Md5Base64: s.lockMD5(buf)})
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, stall.ErrStalled) {
			return minio.CompletePart{}, cause
		}
		return minio.CompletePart{}, fmt.Errorf("part %d: %w", n, s.cause(ctx, err, nil))
	}
	return minio.CompletePart{PartNumber: n, ETag: p.ETag}, nil
}

// progressReader is the body of a part or a single PUT: a reader whose
// furthest read position advancing is the watchdog's progress; bytes read
// again after a rewind are no progress.
type progressReader struct {
	mu        sync.Mutex
	r         io.Reader
	pos, high int64
	wd        *stall.Watchdog
}

// Read reads, telling the watchdog when it reaches new bytes.
func (p *progressReader) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, err := p.r.Read(b)
	p.pos += int64(n)
	if p.pos > p.high {
		p.high = p.pos
		p.wd.Progress()
	}
	return n, err
}

// seekProgress is a progressReader over a chunkReader, which can seek:
// minio-go retries a request only when its body can.
type seekProgress struct{ *progressReader }

// newProgress watches body; it can seek when body is a chunkReader.
func newProgress(body io.Reader, wd *stall.Watchdog) io.Reader {
	p := &progressReader{r: body, wd: wd}
	if _, ok := body.(*chunkReader); ok {
		return seekProgress{p}
	}
	return p
}

// Seek rewinds for a retry.
func (s seekProgress) Seek(offset int64, whence int) (int64, error) {
	p := s.progressReader
	p.mu.Lock()
	defer p.mu.Unlock()
	pos, err := p.r.(*chunkReader).Seek(offset, whence)
	if err == nil {
		p.pos = pos
	}
	return pos, err
}

// sizedReader fails unless its reader has exactly want bytes (want < 0:
// any number): it reads one byte beyond want to see the end.
type sizedReader struct {
	r    io.Reader
	want int64
	n    int64
	err  error
}

func (s *sizedReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.want >= 0 && s.n == s.want {
		var one [1]byte
		m, err := io.ReadFull(s.r, one[:])
		switch {
		case m > 0:
			s.err = fmt.Errorf("read: more than the %d bytes announced", s.want)
		case err != io.EOF:
			s.err = err
		default:
			return 0, io.EOF
		}
		return 0, s.err
	}
	if s.want >= 0 {
		p = p[:min(int64(len(p)), s.want-s.n)]
	}
	m, err := s.r.Read(p)
	s.n += int64(m)
	if err == io.EOF && s.want >= 0 && s.n < s.want {
		err = fmt.Errorf("read: %d bytes, %d announced: %w", s.n, s.want, io.ErrUnexpectedEOF)
	}
	if err != nil && err != io.EOF {
		s.err = err
	}
	return m, err
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
