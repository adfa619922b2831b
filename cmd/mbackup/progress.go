package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mbackup/internal/dump"
	"mbackup/internal/snapshot"
)

// progress shows, on a terminal, the bytes and rate of every artifact being
// produced, on one line redrawn twice a second. Off a terminal (cron,
// systemd) it is silent: the summary and the log say what happened.
type progress struct {
	w       io.Writer
	mu      sync.Mutex
	active  map[string]*counting
	stop    chan struct{}
	stopped chan struct{}
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, active: map[string]*counting{}, stop: make(chan struct{}), stopped: make(chan struct{})}
	go p.loop()
	return p
}

// counting counts the plaintext bytes an artifact's producer wrote.
type counting struct {
	w     io.Writer
	n     atomic.Int64
	start time.Time
}

func (c *counting) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// wrap makes every job report its bytes to p.
func (p *progress) wrap(js []snapshot.Job) {
	for i := range js {
		j := &js[i]
		if j.Produce == nil {
			continue
		}
		name, produce := j.Component+"/"+j.Name, j.Produce
		j.Produce = func(ctx context.Context, w io.Writer) (dump.Info, error) {
			c := &counting{w: w, start: time.Now()}
			p.mu.Lock()
			p.active[name] = c
			p.mu.Unlock()
			defer func() {
				p.mu.Lock()
				delete(p.active, name)
				p.mu.Unlock()
			}()
			return produce(ctx, c)
		}
	}
}

func (p *progress) loop() {
	defer close(p.stopped)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			fmt.Fprint(p.w, "\r\033[K")
			return
		case <-t.C:
			fmt.Fprint(p.w, "\r\033[K"+p.line())
		}
	}
}

func (p *progress) line() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	for name, c := range p.active {
		n := c.n.Load()
		rate := float64(n) / max(time.Since(c.start).Seconds(), 0.001)
		parts = append(parts, fmt.Sprintf("%s %s %s/s", name, humanBytes(n), humanBytes(int64(rate))))
	}
	sort.Strings(parts)
	return strings.Join(parts, " | ")
}

// close stops the redrawing and clears the line.
func (p *progress) close() {
	close(p.stop)
	<-p.stopped
}
