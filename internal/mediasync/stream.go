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
// to prefix. The listing goroutine of minio-go ends when ctx is cancelled,
// or when the listing was awaited for stallAfter without an entry.
func sourceStream(ctx context.Context, c *minio.Client, bucket, prefix string, stallAfter time.Duration) *stream {
	ctx, wd := stall.Watch(ctx, stallAfter, errSourceStalled(stallAfter))
	ch := c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
	done := false
	return &stream{name: "source", next: func() (entry, bool, error) {
		if done {
			return entry{}, false, nil
		}
		wd.Enter()
		oi, ok := <-ch
		wd.Leave()
		if !ok {
			done = true
			defer wd.Stop()
			if err := ctx.Err(); err != nil {
				return entry{}, false, fmt.Errorf("list source: %w", stalled(ctx, err))
			}
			return entry{}, false, nil
		}
		if oi.Err != nil {
			done = true
			wd.Stop()
			return entry{}, false, fmt.Errorf("list source bucket %s: %w", bucket, stalled(ctx, oi.Err))
		}
		if !strings.HasPrefix(oi.Key, prefix) {
			done = true
			return entry{}, false, fmt.Errorf("list source: key %q outside prefix %q", oi.Key, prefix)
		}
		return entry{key: oi.Key[len(prefix):], size: oi.Size, etag: oi.ETag}, true, nil
	}}
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
