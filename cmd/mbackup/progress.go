package main

import (
	"io"
	"time"

	"mbackup/internal/progress"
	"mbackup/internal/snapshot"
)

// progressLine shows, on a terminal, the bytes and rate of every artifact
// being produced, on one line redrawn twice a second. Off a terminal
// (cron, systemd) it is not used: the summary and the log say what
// happened.
type progressLine struct {
	m    *progress.Meter
	stop func()
}

func newProgress(w io.Writer) *progressLine {
	m := progress.New()
	return &progressLine{m: m, stop: m.Draw(w, 500*time.Millisecond)}
}

// wrap makes every job report its bytes to the line.
func (p *progressLine) wrap(js []snapshot.Job) { p.m.Wrap(js) }

// close stops the redrawing and clears the line.
func (p *progressLine) close() { p.stop() }

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool { return progress.IsTerminal(w) }
