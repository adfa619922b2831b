package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"mbackup/internal/human"
	"mbackup/internal/progress"
)

// restoreBar draws where a restore's long phase stands on one terminal
// line, redrawn in place and cut to the terminal's width, and passes the
// restore's log lines through above it (progress.Terminal): a log line
// never lands in the middle of the bar. The restore calls show (through
// restore.Options.OnProgress) one report at a time, already throttled.
type restoreBar struct{ t *progress.Terminal }

func newRestoreBar(w io.Writer) *restoreBar { return &restoreBar{progress.NewTerminal(w)} }

// Write clears the bar and writes p, a log line: the bar of the step it
// tells of is not drawn again, the next report draws the next one.
func (b *restoreBar) Write(p []byte) (int, error) {
	b.t.Clear()
	return b.t.Write(p)
}

// show redraws the bar: step, phase, done of total in unit ("items" or
// "bytes"), what the phase is at, and the rate of a phase counted in bytes.
func (b *restoreBar) show(step, phase string, done, total int64, unit, what string, elapsed time.Duration) {
	b.t.Show(barLine(step, phase, done, total, unit, what, elapsed))
}

// close clears the bar for what is printed after the restore; a nil bar
// (off a terminal) has nothing to clear.
func (b *restoreBar) close() {
	if b != nil {
		b.t.Clear()
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
