package mediasync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/stall"
	"mbackup/internal/storage"
)

// entry is one object of a listing, or one record of the index, under its
// key relative to the mirrored prefix.
type entry struct {
	key  string
	size int64
	etag string // source ETag; empty for destination entries
}

// stream is an ascending sequence of entries read one at a time. It checks
// that every key is strictly greater, in byte order, than the one before:
// the merge join is only correct on sorted input, and a listing that breaks
// the order must stop the run before anything is deleted.
type stream struct {
	name string
	next func() (entry, bool, error)

	head entry
	ok   bool // head holds an entry; false once the stream has ended
	prev string
	seen bool
}

// advance moves head to the next entry.
func (s *stream) advance() error {
	e, ok, err := s.next()
	if err != nil {
		s.ok = false
		return err
	}
	s.ok = ok
	if !ok {
		return nil
	}
	if s.seen && e.key <= s.prev {
		s.ok = false
		return fmt.Errorf("%w: %s listing has %q after %q", ErrOutOfOrder, s.name, e.key, s.prev)
	}
	s.head, s.prev, s.seen = e, e.key, true
	return nil
}

// ErrOutOfOrder is wrapped by the error of a run whose source, destination
// or index listing was not in strictly ascending byte order. Such a run
// deletes nothing and keeps the old index.
var ErrOutOfOrder = errors.New("listing out of order")

// sourceStream lists bucket under prefix, recursively, with keys relative
// to prefix: each range of f in turn, and past each exclude prefix of f
// as soon as a key under it shows (a new listing starting after it), so
// an excluded prefix costs one page however many keys it has. Owners are
// not fetched. The listing goroutine of minio-go ends when ctx is
// cancelled, or when the listing was awaited for stallAfter without an
// entry.
func sourceStream(ctx context.Context, c *minio.Client, bucket, prefix string, f filter, stallAfter time.Duration) *stream {
	ctx, wd := stall.Watch(ctx, stallAfter, errSourceStalled(stallAfter))
	l := &sourceListing{ctx: ctx, c: c, bucket: bucket, prefix: prefix, ranges: f.ranges(), stop: func() {}}
	done := false
	return &stream{name: "source", next: func() (entry, bool, error) {
		if done {
			return entry{}, false, nil
		}
		for {
			if l.ch == nil && !l.nextRange() {
				done = true
				wd.Stop()
				return entry{}, false, nil
			}
			wd.Enter()
			oi, ok := <-l.ch
			wd.Leave()
			e, err := l.take(oi, ok, f)
			switch {
			case err != nil:
				done = true
				wd.Stop()
				l.stop()
				return entry{}, false, err
			case e != nil:
				return *e, true, nil
			}
		}
	}}
}

// sourceListing is the listing under way of a sourceStream.
type sourceListing struct {
	ctx            context.Context
	c              *minio.Client
	bucket, prefix string
	ranges         []string
	ri             int
	ch             <-chan minio.ObjectInfo
	stop           context.CancelFunc // ends the listing of ch
}

// nextRange starts the listing of the next range; false after the last.
func (l *sourceListing) nextRange() bool {
	if l.ri == len(l.ranges) {
		l.stop()
		return false
	}
	l.open(l.prefix+l.ranges[l.ri], "")
	l.ri++
	return true
}

// open lists under the bucket's prefix p, after startAfter.
func (l *sourceListing) open(p, startAfter string) {
	l.stop()
	ctx, cancel := context.WithCancel(l.ctx)
	l.stop = cancel
	noOwner := false
	l.ch = l.c.ListObjects(ctx, l.bucket, minio.ListObjectsOptions{
		Prefix: p, StartAfter: startAfter, Recursive: true, FetchOwner: &noOwner,
	})
}

// take turns what the listing gave into an entry, or nil (the range
// ended, or an excluded key made the listing skip its prefix).
func (l *sourceListing) take(oi minio.ObjectInfo, ok bool, f filter) (*entry, error) {
	switch {
	case !ok && l.ctx.Err() != nil:
		return nil, fmt.Errorf("list source: %w", stalled(l.ctx, l.ctx.Err()))
	case !ok:
		l.ch = nil
		return nil, nil
	case oi.Err != nil:
		return nil, fmt.Errorf("list source bucket %s: %w", l.bucket, stalled(l.ctx, oi.Err))
	case !strings.HasPrefix(oi.Key, l.prefix):
		return nil, fmt.Errorf("list source: key %q outside prefix %q", oi.Key, l.prefix)
	}
	key := oi.Key[len(l.prefix):]
	if p := f.excluded(key); p != "" {
		l.open(l.prefix+l.ranges[l.ri-1], l.prefix+pastPrefix(p))
		return nil, nil
	}
	return &entry{key: key, size: oi.Size, etag: oi.ETag}, nil
}

// storeStream lists the store under prefix with keys relative to prefix.
// Store.List takes a callback, so it runs in a goroutine feeding a small
// channel; cancelling ctx stops it.
func storeStream(ctx context.Context, st storage.Store, prefix string) *stream {
	ch := make(chan entry, 64)
	errc := make(chan error, 1)
	go func() {
		defer close(ch)
		errc <- st.List(ctx, prefix, func(o storage.Object) error {
			if !strings.HasPrefix(o.Key, prefix) {
				return fmt.Errorf("key %q outside prefix %q", o.Key, prefix)
			}
			select {
			case ch <- entry{key: o.Key[len(prefix):], size: o.Size}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	done := false
	return &stream{name: "destination", next: func() (entry, bool, error) {
		if done {
			return entry{}, false, nil
		}
		e, ok := <-ch
		if ok {
			return e, true, nil
		}
		done = true
		if err := <-errc; err != nil {
			return entry{}, false, fmt.Errorf("list destination: %w", err)
		}
		return entry{}, false, nil
	}}
}

// emptyStream has no entries.
func emptyStream(name string) *stream {
	return &stream{name: name, next: func() (entry, bool, error) { return entry{}, false, nil }}
}
