package main

import (
	"io"
	"time"

	"mbackup/internal/progress"
	"mbackup/internal/snapshot"
)

// progressLine shows, on a terminal, the bytes and rate of every artifact
// being produced, on one line under the log lines, redrawn twice a second
// and whenever an artifact starts or ends. Off a terminal (cron, systemd)
// it is not used: the summary and the log say what happened.
type progressLine struct {
	m    *progress.Meter
	stop func()
}

// newProgress draws on t, the terminal the log lines are written through.
func newProgress(t *progress.Terminal) *progressLine {
	m := progress.New()
	return &progressLine{m: m, stop: m.Draw(t, 500*time.Millisecond)}
}

// wrap makes every job report its bytes to the line.
func (p *progressLine) wrap(js []snapshot.Job) { p.m.Wrap(js) }

// close stops the redrawing and clears the line.
func (p *progressLine) close() { p.stop() }

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool { return progress.IsTerminal(w) }
