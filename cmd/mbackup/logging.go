package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"

	"mbackup/internal/progress"
)

// Logging: the log goes to standard error, as text (key=value, the
// default) or JSON (--log-format). Under systemd (JOURNAL_STREAM names
// standard error) every line of standard error starts with an sd-daemon
// priority prefix, "<3>" error, "<4>" warning, "<6>" info, "<7>" debug,
// and log lines carry no time, which the journal records: so
// "journalctl -p warning" shows the warnings and errors. On a terminal the
// log lines and the progress line share one writer (progress.Terminal).

// logFormats are the values --log-format accepts.
var logFormats = []string{"text", "json"}

// setLogFormat is --log-format's setter.
func (e *env) setLogFormat(s string) error {
	for _, f := range logFormats {
		if s == f {
			e.logFormat = s
			return nil
		}
	}
	return fmt.Errorf("log format %q: give %s", s, strings.Join(logFormats, " or "))
}

// toJournal makes standard error a journal stream, where every line gets
// a priority prefix, when JOURNAL_STREAM says it is one.
func (e *env) toJournal() {
	if underJournal(e.stderr, os.Getenv("JOURNAL_STREAM")) {
		e.journal = true
		e.stderr = &journalWriter{w: e.stderr, atStart: true}
	}
}

// underJournal reports whether w is the journal stream stream names
// ("DEVICE:INODE", as systemd sets JOURNAL_STREAM): a child whose
// standard error was redirected elsewhere inherits the variable, but not
// the stream.
func underJournal(w io.Writer, stream string) bool {
	f, ok := w.(*os.File)
	if !ok || stream == "" {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return stream == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// terminal is the one writer standard error's progress line and log
// lines share when standard error is a terminal; nil otherwise.
func (e *env) terminal() *progress.Terminal {
	e.ttyOnce.Do(func() {
		if progress.IsTerminal(e.stderr) {
			e.tty = progress.NewTerminal(e.stderr)
		}
	})
	return e.tty
}

// logger logs to standard error (through the terminal's writer on a
// terminal), in --log-format: debug lines with -v.
func (e *env) logger() *slog.Logger {
	level := slog.LevelInfo
	if e.verbose {
		level = slog.LevelDebug
	}
	var w io.Writer = e.stderr
	if t := e.terminal(); t != nil {
		w = t
	}
	return newLogger(w, e.logFormat, e.journal, level)
}

// newLogger logs to w in format ("json", else text) from level up; for
// the journal without times and with a priority prefix on every line.
func newLogger(w io.Writer, format string, journal bool, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if !journal {
		return slog.New(handler(w, format, opts))
	}
	opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	sh := &prioritized{lineState: &lineState{w: w}}
	sh.h = handler(&sh.buf, format, opts)
	return slog.New(sh)
}

func handler(w io.Writer, format string, opts *slog.HandlerOptions) slog.Handler {
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// prioritized writes each record of h, which writes into buf, to w in one
// Write, after the sd-daemon prefix of its level.
type prioritized struct {
	*lineState
	h slog.Handler
}

// lineState is the buffer the handlers derived from one prioritized
// share, with the lock that keeps their records whole.
type lineState struct {
	mu  sync.Mutex
	buf bytes.Buffer
	w   io.Writer
}

func (p *prioritized) Enabled(ctx context.Context, l slog.Level) bool { return p.h.Enabled(ctx, l) }

func (p *prioritized) Handle(ctx context.Context, r slog.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Reset()
	p.buf.WriteString(priority(r.Level))
	if err := p.h.Handle(ctx, r); err != nil {
		return err
	}
	_, err := p.w.Write(p.buf.Bytes())
	return err
}

func (p *prioritized) WithAttrs(as []slog.Attr) slog.Handler {
	return &prioritized{p.lineState, p.h.WithAttrs(as)}
}

func (p *prioritized) WithGroup(name string) slog.Handler {
	return &prioritized{p.lineState, p.h.WithGroup(name)}
}

// priority is the sd-daemon prefix of a log level.
func priority(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "<3>"
	case l >= slog.LevelWarn:
		return "<4>"
	case l >= slog.LevelInfo:
		return "<6>"
	}
	return "<7>"
}

// journalWriter gives every line written to w that has no priority
// prefix one: "mbackup: warning: …" a warning, any other "mbackup: …" (the
// exit message of a failed command) an error, the rest info.
type journalWriter struct {
	mu      sync.Mutex
	w       io.Writer
	atStart bool // the next byte starts a line
}

func (j *journalWriter) Write(p []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out bytes.Buffer
	for rest := p; len(rest) > 0; {
		line, after, found := bytes.Cut(rest, []byte("\n"))
		if j.atStart && !hasPriority(line) {
			out.WriteString(linePriority(line))
		}
		out.Write(line)
		if found {
			out.WriteByte('\n')
		}
		j.atStart, rest = found, after
	}
	if _, err := j.w.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// hasPriority reports whether line starts with an sd-daemon prefix.
func hasPriority(line []byte) bool {
	return len(line) >= 3 && line[0] == '<' && line[1] >= '0' && line[1] <= '7' && line[2] == '>'
}

func linePriority(line []byte) string {
	switch {
	case bytes.HasPrefix(line, []byte("mbackup: warning")):
		return "<4>"
	case bytes.HasPrefix(line, []byte("mbackup: ")):
		return "<3>"
	}
	return "<6>"
}
