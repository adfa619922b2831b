package b2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/Backblaze/blazer/b2"
	"github.com/Backblaze/blazer/base"

	"mbackup/internal/storage"
)

// Put streams r to key. An object that fits in one chunk (at most
// ChunkSize bytes) is sent by one b2_upload_file; a larger one becomes a
// large file of ChunkSize parts. See the package comment for what a failure
// leaves. A reader that blocks forever is not interrupted: the caller owns
// the producer. The Modified time returned is the local clock at commit;
// Stat and List report B2's upload time.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (storage.Object, error) {
	if err := storage.ValidKey(key); err != nil {
		return storage.Object{}, fmt.Errorf("b2: put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return storage.Object{}, s.fail("put", key, ctx, err)
	}
	sendLock, err := s.uploadLock()
	if err != nil {
		return storage.Object{}, s.fail("put", key, ctx, err)
	}
	bucket, err := s.handle(ctx)
	if err != nil {
		return storage.Object{}, s.fail("put", key, ctx, err)
	}
	tctx, cancelTimeout := context.WithTimeoutCause(ctx, s.cfg.UploadTimeout,
		fmt.Errorf("%w: not done within %v", errUploadTimeout, s.cfg.UploadTimeout))
	defer cancelTimeout()
	if sendLock {
		tctx = withLock(tctx, s.cfg.Lock)
	}
	wctx, wd, cancel := watch(tctx, s.cfg.StallTimeout, s.cfg.UploadRetries)
	defer cancel(nil)
	u := &upload{s: s, parent: ctx, ctx: wctx, cancel: cancel, wd: wd, bucket: bucket, obj: bucket.Object(s.name(key))}
	size, err := u.run(r)
	if err != nil && (capExceeded(err) || errors.Is(context.Cause(wctx), storage.ErrStorageCap)) {
		err = fmt.Errorf("%w: the Backblaze account reached its storage cap: raise it in the Backblaze web console "+
			"(Caps & Alerts) or free space with prune", storage.ErrStorageCap)
		return storage.Object{}, s.fail("put", key, ctx, err)
	}
	if err != nil {
		return storage.Object{}, s.fail("put", key, wctx, err)
	}
	return storage.Object{Key: key, Size: size, Modified: time.Now().UTC()}, nil
}

// upload is one Put under way.
type upload struct {
	s      *Store
	parent context.Context // the caller's context, for cleaning up
	ctx    context.Context // the writer's: UploadTimeout and the watchdog
	cancel context.CancelCauseFunc
	wd     *watchdog
	bucket *b2.Bucket
	obj    *b2.Object
	w      *b2.Writer // nil until bytes are handed to blazer
	large  bool       // a whole chunk went to blazer: a large file was started
}

// run reads r chunk by chunk. It keeps ChunkSize+1 bytes: a chunk goes to
// blazer only once a byte after it is known to exist, so an object of
// exactly ChunkSize bytes is a small file, not a large file of one part.
// Blazer gets whole chunks only, so its own buffer is empty whenever this
// store is not inside one of its calls: a cancelled writer's Close then
// stops its upload goroutines (v0.7.2's Close returns early, leaving them
// blocked forever, when its buffer holds bytes and its context is done).
func (u *upload) run(r io.Reader) (int64, error) {
	cs := u.s.cfg.ChunkSize
	buf := u.s.getBuffer()
	defer func() { u.s.putBuffer(buf) }()
	var total int64
	n := 0
	for {
		m, err := readFull(u.ctx, r, buf[n:])
		n += m
		total += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return total, u.abort(err)
		}
		if len(buf) < cs+1 {
			buf = append(buf, make([]byte, min(len(buf), cs+1-len(buf)))...)
			continue
		}
		if err := u.write(buf[:cs]); err != nil {
			return total, u.abort(err)
		}
		buf[0] = buf[cs]
		n = 1
	}
	if err := u.finish(buf[:n]); err != nil {
		return total, u.abort(err)
	}
	return total, nil
}

// smallBuffer is where reading starts when no whole chunk buffer is free:
// most objects of a media mirror are small, and need no 16 MiB.
const smallBuffer = 64 << 10

// getBuffer returns a buffer to read into: a whole chunk buffer of
// ChunkSize+1 bytes if one is free, else a small one that run doubles as
// needed.
func (s *Store) getBuffer() []byte {
	if bp, ok := s.chunks.Get().(*[]byte); ok {
		return *bp
	}
	return make([]byte, min(smallBuffer, s.cfg.ChunkSize+1))
}

// putBuffer keeps buf for another Put if it is a whole chunk buffer.
func (s *Store) putBuffer(buf []byte) {
	if len(buf) == s.cfg.ChunkSize+1 {
		s.chunks.Put(&buf)
	}
}

// readFull fills p from r. It returns io.EOF, with the count, when r ends
// first, and stops between reads when ctx is done.
func readFull(ctx context.Context, r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if ctx.Err() != nil {
			return n, context.Cause(ctx)
		}
		m, err := r.Read(p[n:])
		n += m
		if err == io.EOF {
			return n, io.EOF
		}
		if err != nil {
			return n, fmt.Errorf("read: %w", err)
		}
	}
	return n, nil
}

// newWriter returns the blazer writer, with explicit sizes: chunk is the
// part size (and the size below which blazer sends one small file).
func (u *upload) newWriter(chunk int) *b2.Writer {
	w := u.obj.NewWriter(u.ctx)
	w.ChunkSize = chunk
	w.ConcurrentUploads = u.s.cfg.ConcurrentUploads
	return w
}

// write hands one whole chunk to blazer, which starts the large file with
// the first one and blocks while every upload goroutine is busy.
func (u *upload) write(chunk []byte) error {
	if u.ctx.Err() != nil {
		return context.Cause(u.ctx)
	}
	if u.w == nil {
		u.w = u.newWriter(u.s.cfg.ChunkSize)
	}
	u.large = true
	u.wd.Enter()
	defer u.wd.Leave()
	_, err := u.w.Write(chunk)
	return err
}

// finish hands the last bytes to blazer and commits: a large file gets its
// last part and b2_finish_large_file; a small object is sent whole by
// b2_upload_file, streamed from rest with its SHA1 at the end of the body.
func (u *upload) finish(rest []byte) error {
	if u.ctx.Err() != nil {
		return context.Cause(u.ctx)
	}
	u.wd.Enter()
	defer u.wd.Leave()
	if u.w == nil {
		// ReadFrom a bytes.Reader makes blazer send rest as is, without
		// copying it, and also covers the empty object, for which a Close
		// without any Write would leave the writer registered in the client.
		u.w = u.newWriter(len(rest) + 1)
		if _, err := u.w.ReadFrom(bytes.NewReader(rest)); err != nil {
			return err
		}
	} else if _, err := u.w.Write(rest); err != nil {
		return err
	}
	return u.w.Close()
}

// abort makes sure nothing commits: it cancels the writer's context before
// closing the writer, then cancels the large file if one was started.
func (u *upload) abort(err error) error {
	u.cancel(err)
	err = cause(u.ctx, err)
	if u.w == nil {
		return err
	}
	u.wd.Enter()
	u.w.Close() // its error is the cancellation; err says why
	u.wd.Leave()
	u.s.discard(u.bucket)
	if !u.large {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.parent), min(u.s.cfg.CallTimeout, 30*time.Second))
	defer cancel()
	name := u.obj.Name()
	if _, cerr := u.s.cancelUnfinished(ctx, u.bucket, func(n string, _ time.Time) bool { return n == name }); cerr != nil {
		return fmt.Errorf("%w; its unfinished large file is left for the sweeper: %v", err, cerr)
	}
	return err
}

// capExceeded reports whether err, or an error it wraps, is B2's 403
// storage_cap_exceeded, which blazer does not retry.
func capExceeded(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if code, msg, _ := base.MsgCode(e); code == http.StatusForbidden && msg == "storage_cap_exceeded" {
			return true
		}
	}
	return strings.Contains(err.Error(), "storage_cap_exceeded")
}
