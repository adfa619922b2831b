package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"mbackup/internal/human"
)

// restoreBar draws where a restore's long phase stands on one terminal
// line, redrawn in place, and passes the restore's log lines through above
// it: each Write clears the line first, so a log line never lands in the
// middle of the bar. The restore calls show (through
// restore.Options.OnProgress) one report at a time, already throttled;
// the mutex keeps a log line and a redraw from interleaving.
type restoreBar struct {
	mu    sync.Mutex
	w     io.Writer
	drawn bool
}

func newRestoreBar(w io.Writer) *restoreBar { return &restoreBar{w: w} }

// Write clears the bar and writes p, a log line.
func (b *restoreBar) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clearLocked()
	return b.w.Write(p)
}

// show redraws the bar: step, phase, done of total in unit ("items" or
// "bytes"), what the phase is at, and the rate of a phase counted in bytes.
func (b *restoreBar) show(step, phase string, done, total int64, unit, what string, elapsed time.Duration) {
	line := barLine(step, phase, done, total, unit, what, elapsed)
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprint(b.w, "\r\033[K"+line)
	b.drawn = true
}

// close clears the bar for what is printed after the restore; a nil bar
// (off a terminal) has nothing to clear.
func (b *restoreBar) close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clearLocked()
}

func (b *restoreBar) clearLocked() {
	if b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
		b.drawn = false
	}
}

// maxWhat bounds what a bar shows of the object a phase is at.
const maxWhat = 60

// barLine is the text of the bar, without control characters: what comes
// from the artifact (a table's name) may hold any byte.
func barLine(step, phase string, done, total int64, unit, what string, elapsed time.Duration) string {
	amount := func(n int64) string {
		if unit == "bytes" {
			return humanBytes(n)
		}
		return fmt.Sprintf("%d", n)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s", human.Printable(step, 80), phase, amount(done))
	if total > 0 {
		fmt.Fprintf(&b, " of %s (%d%%)", amount(total), min(100, done*100/total))
	}
	if unit != "bytes" && unit != "" {
		fmt.Fprintf(&b, " %s", human.Printable(unit, 20))
	}
	if unit == "bytes" && elapsed > 0 {
		fmt.Fprintf(&b, ", %s/s", humanBytes(int64(float64(done)/elapsed.Seconds())))
	}
	if what != "" {
		fmt.Fprintf(&b, ", %s", human.Printable(what, maxWhat))
	}
	fmt.Fprintf(&b, ", %s", roundDuration(elapsed))
	return b.String()
}
