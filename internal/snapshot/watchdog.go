package snapshot

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// ErrStalled is the cause of a producer killed by the watchdog.
var ErrStalled = fmt.Errorf("snapshot: producer stalled")

// watchdog cancels a producer that writes nothing for timeout while no
// write of its is in progress: a write that blocks because the store is
// slow is the store's business (its own stall timeout), not the
// producer's.
type watchdog struct {
	w       io.Writer
	timeout time.Duration
	cancel  context.CancelCauseFunc

	mu      sync.Mutex
	writing bool
	last    time.Time
	stop    chan struct{}
}

// watch wraps w; the returned stop function ends the watch.
func watch(w io.Writer, timeout time.Duration, cancel context.CancelCauseFunc) (*watchdog, func()) {
	d := &watchdog{w: w, timeout: timeout, cancel: cancel, last: time.Now(), stop: make(chan struct{})}
	go d.loop()
	var once sync.Once
	return d, func() { once.Do(func() { close(d.stop) }) }
}

func (d *watchdog) Write(p []byte) (int, error) {
	d.mu.Lock()
	d.writing = true
	d.mu.Unlock()
	n, err := d.w.Write(p)
	d.mu.Lock()
	d.writing, d.last = false, time.Now()
	d.mu.Unlock()
	return n, err
}

func (d *watchdog) loop() {
	tick := time.NewTicker(max(d.timeout/8, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return
		case now := <-tick.C:
			d.mu.Lock()
			idle := !d.writing && now.Sub(d.last) >= d.timeout
			d.mu.Unlock()
			if idle {
				d.cancel(fmt.Errorf("%w: it wrote nothing for %v (stopped or hung); it was killed", ErrStalled, d.timeout))
				return
			}
		}
	}
}
