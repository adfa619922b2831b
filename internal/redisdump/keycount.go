package redisdump

import (
	"io"
	"time"
)

// keyCounter runs Count in a goroutine on a copy of what is written to
// it, so that the dump and the count run side by side. Its Write never
// fails; it waits only when Count is counterBufs buffers behind, which
// also bounds its memory. After an error Count stops and the rest is
// discarded.
type keyCounter struct {
	full   chan []byte // filled buffers, to Count
	free   chan []byte // buffers Count is done with
	buf    []byte      // the buffer being filled
	done   chan struct{}
	counts Counts
	err    error
}

const (
	counterBufSize = 256 << 10
	counterBufs    = 4
)

func newKeyCounter() *keyCounter {
	k := &keyCounter{full: make(chan []byte, counterBufs), free: make(chan []byte, counterBufs),
		buf: make([]byte, 0, counterBufSize), done: make(chan struct{})}
	for range counterBufs - 1 {
		k.free <- make([]byte, 0, counterBufSize)
	}
	go func() {
		defer close(k.done)
		k.counts, k.err = Count(&bufReader{k: k}, time.Time{}, time.Time{})
		for b := range k.full {
			k.free <- b[:0]
		}
	}()
	return k
}

func (k *keyCounter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		c := copy(k.buf[len(k.buf):cap(k.buf)], p)
		k.buf, p = k.buf[:len(k.buf)+c], p[c:]
		if len(k.buf) == cap(k.buf) {
			k.full <- k.buf
			k.buf = <-k.free
		}
	}
	return n, nil
}

// close ends the stream and returns what Count found; the caller ignores
// it when the dump failed.
func (k *keyCounter) close() (Counts, error) {
	if len(k.buf) > 0 {
		k.full <- k.buf
	}
	close(k.full)
	<-k.done
	return k.counts, k.err
}

// bufReader reads the buffers of a keyCounter, giving each back when it
// is read.
type bufReader struct {
	k    *keyCounter
	cur  []byte // the buffer being read
	rest []byte // its unread part
}

func (r *bufReader) Read(p []byte) (int, error) {
	for len(r.rest) == 0 {
		if r.cur != nil {
			r.k.free <- r.cur[:0]
			r.cur = nil
		}
		b, ok := <-r.k.full
		if !ok {
			return 0, io.EOF
		}
		r.cur, r.rest = b, b
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}
