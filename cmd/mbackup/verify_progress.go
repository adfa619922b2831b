package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mbackup/internal/human"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// readBack is rb.Check of m on v's store, its progress drawn on v.tty
// when standard error is a terminal: the artifact being read, the bytes
// read of the snapshot's stored total and the rate. The line is cleared
// before the verdict is printed.
func (v verifier) readBack(ctx context.Context, rb snapshot.ReadBack, m *snapshot.Manifest) error {
	if v.tty == nil {
		return rb.Check(ctx, v.store, m)
	}
	vm := newVerifyMeter(v.store, m)
	stop := v.tty.Draw(500*time.Millisecond, vm.changed, vm.line)
	defer stop()
	return rb.Check(ctx, vm, m)
}

// verifyMeter is a store that counts the bytes read from it, for the
// progress line of one snapshot's verification.
type verifyMeter struct {
	storage.Store
	id      string
	count   int   // the snapshot's artifacts
	total   int64 // and their stored bytes
	start   time.Time
	read    atomic.Int64
	changed chan struct{}

	mu    sync.Mutex
	index int    // the artifacts opened so far
	what  string // the one being read
}

func newVerifyMeter(s storage.Store, m *snapshot.Manifest) *verifyMeter {
	vm := &verifyMeter{Store: s, id: m.ID, count: len(m.Artifacts), start: time.Now(), changed: make(chan struct{}, 1)}
	for _, a := range m.Artifacts {
		vm.total += a.StoredBytes
	}
	return vm
}

// Get opens key, counting what is read of it, and draws the line at once.
func (vm *verifyMeter) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := vm.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	vm.mu.Lock()
	vm.index++
	vm.what = key
	if _, name, ok := strings.Cut(key, "/"+vm.id+"/"); ok {
		vm.what = name
	}
	vm.mu.Unlock()
	select {
	case vm.changed <- struct{}{}:
	default:
	}
	return countedReader{rc, &vm.read}, nil
}

// line is "verify ID: 2 of 7 postgres/mastodon.dump.zst.age, 12.0 MiB of
// 40.0 MiB (30%), 5.0 MiB/s".
func (vm *verifyMeter) line() string {
	vm.mu.Lock()
	index, what := vm.index, vm.what
	vm.mu.Unlock()
	n := vm.read.Load()
	var b strings.Builder
	fmt.Fprintf(&b, "verify %s: %d of %d", vm.id, index, vm.count)
	if what != "" {
		fmt.Fprintf(&b, " %s", human.Printable(what, maxWhat))
	}
	fmt.Fprintf(&b, ", %s of %s", humanBytes(n), humanBytes(vm.total))
	if vm.total > 0 {
		fmt.Fprintf(&b, " (%d%%)", min(100, n*100/vm.total))
	}
	rate := float64(n) / max(time.Since(vm.start).Seconds(), 0.001)
	fmt.Fprintf(&b, ", %s/s", humanBytes(int64(rate)))
	return b.String()
}

// countedReader adds what is read from it to n.
type countedReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countedReader) Read(p []byte) (int, error) {
	k, err := c.ReadCloser.Read(p)
	c.n.Add(int64(k))
	return k, err
}

var _ storage.Store = (*verifyMeter)(nil)
