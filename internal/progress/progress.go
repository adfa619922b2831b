// Package progress counts the bytes of every artifact being produced and
// draws them, with their rate, on one terminal line that the log lines
// share (Terminal).
//
// Invariants: counting never changes what a producer writes, nor its
// error; an artifact is on the line only while its producer runs; the
// line is redrawn in place ("\r" and erase to the end of the line), cut to
// the terminal's width, cleared before any other line is written and
// drawn again under it, and cleared when the drawing stops, so nothing of
// it stays on the screen.
package progress

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
	"mbackup/internal/human"
	"mbackup/internal/snapshot"
)

// Meter counts the plaintext bytes of the artifacts being produced.
type Meter struct {
	mu      sync.Mutex
	active  map[string]*counting
	changed chan struct{} // an artifact started or ended: draw at once
}

// New returns a Meter counting nothing yet.
func New() *Meter { return &Meter{active: map[string]*counting{}, changed: make(chan struct{}, 1)} }

// poke tells the drawing that the artifacts changed, without waiting.
func (m *Meter) poke() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
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

// Wrap makes every job of js report its bytes to m while it produces.
func (m *Meter) Wrap(js []snapshot.Job) {
	for i := range js {
		j := &js[i]
		if j.Produce == nil {
			continue
		}
		name, produce := fmt.Sprintf("%s/%s", j.Component, j.Name), j.Produce
		j.Produce = func(ctx context.Context, w io.Writer) (dump.Info, error) {
			c := &counting{w: w, start: time.Now()}
			m.mu.Lock()
			m.active[name] = c
			m.mu.Unlock()
			m.poke()
			defer func() {
				m.mu.Lock()
				delete(m.active, name)
				m.mu.Unlock()
				m.poke()
			}()
			return produce(ctx, c)
		}
	}
}

// Line is every active artifact with its bytes and rate, by name:
// "postgres/mastodon 1.2 GiB 48.0 MiB/s | redis/main 3.0 MiB 1.5 MiB/s".
func (m *Meter) Line() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var parts []string
	for name, c := range m.active {
		n := c.n.Load()
		rate := float64(n) / max(time.Since(c.start).Seconds(), 0.001)
		parts = append(parts, fmt.Sprintf("%s %s %s/s", name, human.Bytes(n), human.Bytes(int64(rate))))
	}
	sort.Strings(parts)
	return strings.Join(parts, " | ")
}

// Draw draws m's line on t every interval, and at once when an artifact
// starts or ends, until the returned stop is called; stop clears the line
// and returns once nothing more is drawn.
func (m *Meter) Draw(t *Terminal, every time.Duration) (stop func()) {
	return t.Draw(every, m.changed, m.Line)
}

// IsTerminal reports whether w is a character device, such as a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
