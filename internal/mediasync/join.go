package mediasync

import (
	"context"
	"fmt"
	"sync"
	"unicode"

	"mbackup/internal/storage"
)

// item is one key decided by the join, in key order. The pipeline writes
// its index record once its copy, if any, has finished.
type item struct {
	rec  entry  // the source object, recorded when it is up to date or copied
	copy bool   // rec must be copied first
	old  *entry // record to keep when the copy fails (the store still has that object)
	keep bool   // for an item without rec: write old as it is
	none bool   // no record: the index record x, if any, is dropped
	x    *entry // the old index's record at this key, if any

	done  chan struct{} // closed by the worker; nil when nothing runs
	err   error         // the copy's outcome, valid after done
	raced bool          // the source object changed under the copy
}

// record returns the index line to write for it, if any.
func (it *item) record() (entry, bool) {
	switch {
	case it.none:
		return entry{}, false
	case it.keep:
		return *it.old, true
	case !it.copy:
		return it.rec, true
	case it.done == nil: // dry run: nothing was copied
		return entry{}, false
	case it.err == nil && !it.raced:
		return it.rec, true
	case it.old != nil:
		return *it.old, true
	}
	return entry{}, false
}

// join merges the three ascending streams key by key and hands each
// decision to emit, in key order.
func (r *run) join(src, dst, idx *stream, emit func(*item) error) error {
	streams := []*stream{src, dst, idx}
	for _, s := range streams {
		if err := s.advance(); err != nil {
			return err
		}
	}
	for src.ok || dst.ok || idx.ok {
		k := minKey(streams)
		x := at(idx, k)
		it := r.decide(k, at(src, k), at(dst, k), x)
		if it == nil && x != nil {
			it = &item{none: true} // the index writer sees the record go
		}
		if it != nil {
			it.x = x
			if err := emit(it); err != nil {
				return err
			}
		}
		for _, s := range streams {
			if s.ok && s.head.key == k {
				if err := s.advance(); err != nil {
					return err
				}
			}
		}
		r.progress()
	}
	return nil
}

func minKey(streams []*stream) string {
	var k string
	found := false
	for _, s := range streams {
		if s.ok && (!found || s.head.key < k) {
			k, found = s.head.key, true
		}
	}
	return k
}

// at returns a copy of the stream's head when it is at key k.
func at(s *stream, k string) *entry {
	if !s.ok || s.head.key != k {
		return nil
	}
	e := s.head
	return &e
}

// decide says what to do with key k, given its source object s, store
// object d and index record x (each nil when absent).
func (r *run) decide(k string, s, d, x *entry) *item {
	if !r.filter.covers(k) {
		return r.leave(d, x)
	}
	if s == nil {
		if d != nil {
			r.planDelete(k)
			if x != nil {
				return &item{old: x, keep: true}
			}
		}
		return nil // only a stale index record: dropped
	}
	r.c.listed.Add(1)
	if err := validKey(r.o.Prefix + k); err != nil {
		r.skip(r.o.Source.Prefix+k, err)
		return nil
	}
	switch {
	case d != nil && x != nil && d.size == s.size && x.size == s.size && x.etag == s.etag:
		r.c.unchanged.Add(1)
		return &item{rec: *s}
	case d != nil && x == nil && d.size == s.size:
		r.c.unchanged.Add(1)
		r.c.adopted.Add(1)
		return &item{rec: *s}
	}
	it := &item{rec: *s, copy: true}
	if d != nil {
		it.old = x
	}
	if r.o.DryRun {
		r.c.copied.Add(1)
		r.c.copiedBytes.Add(s.size)
	}
	return it
}

// leave keeps a key the mirror does not cover as it is: the store object
// d, if any, is counted, the index record x, if any, kept.
func (r *run) leave(d, x *entry) *item {
	if d != nil {
		r.c.excluded.Add(1)
	}
	if x != nil {
		return &item{old: x, keep: true}
	}
	return nil
}

// planDelete counts a store object the source no longer has and keeps its
// key while the plan is within the limit.
func (r *run) planDelete(k string) {
	if !r.o.Delete {
		return
	}
	r.planned++
	if r.planned <= r.o.MaxDelete {
		r.deletes = append(r.deletes, k)
	}
}

// validKey accepts the keys a store holds verbatim: storage.ValidKey (no
// empty segment from a leading, trailing or double slash, no control
// character, valid UTF-8, at most storage.MaxKeyLen bytes), plus no
// Unicode control characters beyond ASCII (C1), which B2 rejects too.
func validKey(key string) error {
	if err := storage.ValidKey(key); err != nil {
		return err
	}
	for _, c := range key {
		if unicode.IsControl(c) {
			return fmt.Errorf("%w %q: control character", storage.ErrInvalidKey, key)
		}
	}
	return nil
}

// pipeline carries the join's items to the copy workers and, in key order,
// to the index writer. Its channels bound the items in flight.
type pipeline struct {
	r       *run
	ctx     context.Context
	cancel  context.CancelFunc
	work    chan *item
	order   chan *item
	workers sync.WaitGroup
	written chan error
}

func (r *run) startPipeline(ctx context.Context, iw *indexUpdate) *pipeline {
	ctx, cancel := context.WithCancel(ctx)
	p := &pipeline{
		r: r, ctx: ctx, cancel: cancel,
		work:    make(chan *item, r.o.Workers),
		order:   make(chan *item, 4*r.o.Workers+64),
		written: make(chan error, 1),
	}
	for range r.o.Workers {
		p.workers.Go(func() {
			for it := range p.work {
				r.copyItem(ctx, it)
				close(it.done)
			}
		})
	}
	go func() { p.written <- p.writeIndex(iw) }()
	return p
}

// emit queues it: to a worker when it needs a copy, and to the writer.
func (p *pipeline) emit(it *item) error {
	if it.copy && !p.r.o.DryRun {
		it.done = make(chan struct{})
		select {
		case p.work <- it:
		case <-p.ctx.Done():
			return p.ctx.Err()
		}
	}
	select {
	case p.order <- it:
		return nil
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
}

// writeIndex records each item once its copy is done, in emit order. After
// an index write error it keeps draining, so that nothing blocks.
func (p *pipeline) writeIndex(iw *indexUpdate) error {
	var err error
	for it := range p.order {
		if it.done != nil {
			<-it.done
		}
		if rec, ok := it.record(); err == nil {
			if err = iw.add(rec, ok, it.x); err != nil {
				p.cancel()
			}
		}
	}
	return err
}

// wait ends the pipeline after the last emit and returns the index write
// error, if any.
func (p *pipeline) wait() error {
	close(p.work)
	close(p.order)
	p.workers.Wait()
	err := <-p.written
	p.cancel()
	return err
}
