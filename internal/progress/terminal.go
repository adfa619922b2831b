package progress

import (
	"unicode"

	"golang.org/x/text/width"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// clear returns the cursor to the first column and erases the line.
const clear = "\r\033[K"

// DefaultWidth is the width of a terminal whose size is unknown.
const DefaultWidth = 80

// Terminal is one terminal shared by a progress line and the lines
// written above it (log lines, results). Every Write clears the progress
// line, writes its text and, once the text ended its line, draws the
// progress line again under it: a log line never lands in the middle of
// the progress line. The progress line is cut to the terminal's width, so
// it never wraps and "\r" always returns to its start. Its methods are
// safe for concurrent use.
type Terminal struct {
	mu    sync.Mutex
	w     io.Writer
	width func() int
	line  string // the progress line drawn, "" when none
	open  bool   // a Write left its line unfinished: draw nothing until it ends
}

// NewTerminal returns a Terminal drawing on w, as wide as w's terminal
// (DefaultWidth when unknown), asked again at every draw.
func NewTerminal(w io.Writer) *Terminal {
	return &Terminal{w: w, width: func() int { return Width(w) }}
}

// Width is the width in columns of the terminal w is, DefaultWidth when w
// is no terminal or does not say.
func Width(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return DefaultWidth
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil || cols <= 0 {
		return DefaultWidth
	}
	return cols
}

// Write clears the progress line, writes p and draws the progress line
// again when p ends a line.
func (t *Terminal) Write(p []byte) (int, error) {
	return t.WriteTo(t.w, p)
}

// WriteTo is Write with p written to w, another stream on the same screen
// (standard output when the progress is on standard error).
func (t *Terminal) WriteTo(w io.Writer, p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clearLocked()
	n, err := w.Write(p)
	t.open = len(p) > 0 && p[len(p)-1] != '\n'
	t.drawLocked()
	return n, err
}

// Writer returns a writer that writes to w through t (WriteTo).
func (t *Terminal) Writer(w io.Writer) io.Writer { return writerTo{t, w} }

type writerTo struct {
	t *Terminal
	w io.Writer
}

func (x writerTo) Write(p []byte) (int, error) { return x.t.WriteTo(x.w, p) }

// Show draws line as the progress line, cut to the terminal's width;
// "" clears it.
func (t *Terminal) Show(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if line == "" {
		t.clearLocked()
	}
	t.line = line
	t.drawLocked() // "\r\033[K" first: it replaces the line drawn
}

// Clear erases the progress line and forgets it.
func (t *Terminal) Clear() { t.Show("") }

// Draw shows line() at once, then every interval and whenever a value is
// sent on now, until the returned stop is called; stop clears the line
// and returns once nothing more is drawn.
func (t *Terminal) Draw(every time.Duration, now <-chan struct{}, line func() string) (stop func()) {
	t.Show(line())
	quit, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				t.Clear()
				return
			case <-tick.C:
			case <-now:
			}
			t.Show(line())
		}
	}()
	return func() {
		close(quit)
		<-stopped
	}
}

func (t *Terminal) clearLocked() {
	if t.line != "" && !t.open {
		io.WriteString(t.w, clear)
	}
}

func (t *Terminal) drawLocked() {
	if t.line != "" && !t.open {
		io.WriteString(t.w, clear+Cut(t.line, t.width()))
	}
}

// Cut cuts line to fit in width columns less one (a line that fills the
// last column makes some terminals wrap), ending it with "…" when cut.
// Columns are counted as a terminal draws them: a wide East Asian
// character (漢, ✅) takes two, a combining mark none, any other rune one.
// The lines it is given are printable text (human.Printable).
func Cut(line string, width int) string {
	room := max(width-1, 1)
	if Columns(line) <= room {
		return line
	}
	used := 1 // the "…"
	var b strings.Builder
	for _, r := range line {
		if used+runeColumns(r) > room {
			break
		}
		used += runeColumns(r)
		b.WriteRune(r)
	}
	return strings.TrimRight(b.String(), " |") + "…"
}

// Columns is how many terminal columns s takes.
func Columns(s string) int {
	n := 0
	for _, r := range s {
		n += runeColumns(r)
	}
	return n
}

// runeColumns is the columns r takes on a terminal.
func runeColumns(r rune) int {
	switch {
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}
