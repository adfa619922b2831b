package b2

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/Backblaze/blazer/b2"

	"mbackup/internal/storage"
)

// current returns the bucket handle for calls other than uploads, which
// do not use its pool of upload URLs.
func (s *Store) current() *b2.Bucket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bucket
}

// Stat describes key from one b2_list_file_names call.
func (s *Store) Stat(ctx context.Context, key string) (storage.Object, error) {
	if err := storage.ValidKey(key); err != nil {
		return storage.Object{}, fmt.Errorf("b2: stat: %w", err)
	}
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	obj, err := s.stat(ctx, key)
	if err != nil {
		return storage.Object{}, s.fail("stat", key, ctx, err)
	}
	return obj, nil
}

// stat lists one name from key on: key itself when it exists, since no
// other name with key as a prefix sorts before it.
func (s *Store) stat(ctx context.Context, key string) (storage.Object, error) {
	name := s.name(key)
	it := s.current().List(ctx, b2.ListPrefix(name), b2.ListPageSize(1))
	if it.Next() && it.Object().Name() == name {
		return s.object(ctx, it.Object())
	}
	if err := it.Err(); err != nil {
		return storage.Object{}, err
	}
	return storage.Object{}, fs.ErrNotExist
}

// object describes a listed object; blazer answers from the listing
// without a call.
func (s *Store) object(ctx context.Context, o *b2.Object) (storage.Object, error) {
	attrs, err := o.Attrs(ctx)
	if err != nil {
		return storage.Object{}, err
	}
	return storage.Object{
		Key:      strings.TrimPrefix(o.Name(), s.cfg.Prefix),
		Size:     attrs.Size,
		Modified: attrs.UploadTimestamp,
	}, nil
}

// Get checks that key exists (blazer's reader only finds out on its first
// Read) and returns a reader of its newest version, fetching ChunkSize
// ranges, ConcurrentUploads at a time. The reader runs under
// DownloadTimeout and the stall watchdog until it is closed.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := storage.ValidKey(key); err != nil {
		return nil, fmt.Errorf("b2: get: %w", err)
	}
	cctx, cancel := s.callContext(ctx)
	obj, err := s.stat(cctx, key)
	if err != nil {
		err = s.fail("get", key, cctx, err)
		cancel()
		return nil, err
	}
	cancel()
	tctx, cancelTimeout := context.WithTimeoutCause(ctx, s.cfg.DownloadTimeout,
		fmt.Errorf("%w: not done within %v", errDownloadTimeout, s.cfg.DownloadTimeout))
	dctx, wd, cancelWatch := watch(tctx, s.cfg.StallTimeout, s.cfg.UploadRetries)
	r := s.newReader(dctx, key, obj.Size)
	return &reader{s: s, key: key, ctx: dctx, r: r, wd: wd, stop: func() {
		cancelWatch(nil)
		cancelTimeout()
	}}, nil
}

// newReader reads key, size bytes long. An object of one chunk (manifests,
// the media index) is read as one range of its known length by one
// goroutine: blazer then asks for nothing past the end. Otherwise (and
// for larger objects, whose length blazer cannot be given: its range
// reader races on it with more than one goroutine) each download ends
// with a request answered 416, made by a goroutine that may still run
// after the reader is done; with a small object that request raced with
// blazer's unguarded reauthorization of another call.
func (s *Store) newReader(ctx context.Context, key string, size int64) *b2.Reader {
	o := s.current().Object(s.name(key))
	if size > 0 && size <= int64(s.cfg.ChunkSize) {
		r := o.NewRangeReader(ctx, 0, size)
		r.ChunkSize = int(size) + 1 // larger than the range: its one chunk is the final one
		r.ConcurrentDownloads = 1
		return r
	}
	r := o.NewReader(ctx)
	r.ChunkSize = s.cfg.ChunkSize
	r.ConcurrentDownloads = s.cfg.ConcurrentUploads
	return r
}

// reader is the io.ReadCloser of Get.
type reader struct {
	s    *Store
	key  string
	ctx  context.Context
	r    *b2.Reader
	wd   *watchdog
	stop func()
}

func (r *reader) Read(p []byte) (int, error) {
	r.wd.Enter()
	n, err := r.r.Read(p)
	r.wd.Leave()
	if err != nil && err != io.EOF {
		err = r.s.fail("get", r.key, r.ctx, notExist(err))
	}
	return n, err
}

// Close stops the download and its watchdog.
func (r *reader) Close() error {
	err := r.r.Close()
	r.stop()
	return err
}

// notExist maps blazer's not-found to fs.ErrNotExist.
func notExist(err error) error {
	if b2.IsNotExist(err) {
		return fmt.Errorf("%w: %v", fs.ErrNotExist, err)
	}
	return err
}

// List calls fn for every object under prefix, in ascending order, from
// b2_list_file_names pages of 1000 names, each page within CallTimeout.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.Object) error) error {
	p := s.newPager(ctx)
	defer p.close()
	it := s.current().List(p.ctx, b2.ListPrefix(s.name(prefix)), b2.ListPageSize(1000))
	for p.next(it) {
		obj, err := s.object(p.ctx, it.Object())
		if err != nil {
			return s.fail("list", prefix, p.ctx, err)
		}
		if err := fn(obj); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return s.fail("list", prefix, p.ctx, err)
	}
	return nil
}

// pager bounds each step of a listing by CallTimeout: a Next call that
// fetches a page must return within it, while the time spent by the caller
// between steps is not counted.
type pager struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	d      time.Duration
}

func (s *Store) newPager(ctx context.Context) *pager {
	ctx, cancel := context.WithCancelCause(ctx)
	p := &pager{ctx: ctx, cancel: cancel, d: s.cfg.CallTimeout}
	p.timer = time.AfterFunc(p.d, func() {
		cancel(fmt.Errorf("%w: no answer within %v", errCallTimeout, p.d))
	})
	p.timer.Stop()
	return p
}

func (p *pager) next(it *b2.ObjectIterator) bool {
	p.timer.Reset(p.d)
	defer p.timer.Stop()
	return it.Next()
}

func (p *pager) close() {
	p.timer.Stop()
	p.cancel(nil)
}
