package progress

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY returns the two ends of a new pseudo-terminal cols columns
// wide: what is written to tty is read from master.
func openPTY(t *testing.T, cols uint16) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	var unlock, n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Fatalf("unlocking the pseudo-terminal: %v", errno)
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatalf("the pseudo-terminal's number: %v", errno)
	}
	ws := struct{ rows, cols, x, y uint16 }{24, cols, 0, 0}
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws))); errno != 0 {
		t.Fatalf("sizing the pseudo-terminal: %v", errno)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("the pseudo-terminal's other end: %v", err)
	}
	return master, tty
}

// screenOf is what a terminal shows of out, an output that redraws its
// last line with "\r\033[K": the lines left on the screen, and every
// text drawn, as a terminal would show it at the time.
func screenOf(out string) (lines, drawn []string) {
	out = strings.ReplaceAll(out, "\r\n", "\n")
	var cur string
	for len(out) > 0 {
		switch {
		case strings.HasPrefix(out, clear):
			cur, out = "", out[len(clear):]
		case out[0] == '\n':
			lines, cur, out = append(lines, cur), "", out[1:]
		default:
			i := strings.IndexAny(out, "\r\n")
			if i < 0 {
				i = len(out)
			}
			cur += out[:i]
			drawn = append(drawn, cur)
			out = out[i:]
			if strings.HasPrefix(out, "\r") && !strings.HasPrefix(out, clear) {
				cur, out = "", out[1:]
			}
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines, drawn
}

// TestTerminalSharesTheLine writes log lines onto a real pseudo-terminal
// 40 columns wide while a progress line wider than that is drawn: every
// log line is on a line of its own, whole; the progress line is cut to
// the width, drawn again under each log line, and gone at the end.
func TestTerminalSharesTheLine(t *testing.T) {
	master, tty := openPTY(t, 40)
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() { io.Copy(&screen, master); close(read) }()
	term := NewTerminal(tty)
	progress := "postgres/mastodon 1.2 GiB 48.0 MiB/s | redis/main 3.0 MiB 1.5 MiB/s | mysql/blog 12 MiB 1 MiB/s"
	logs := []string{
		`time=2026-12-03T10:00:00Z level=INFO msg="artifact stored" component=postgres name=mastodon bytes=1234567`,
		`time=2026-12-03T10:00:01Z level=WARN msg="redis slow"`,
	}
	term.Show(progress)
	fmt.Fprintln(term, logs[0])
	term.Show(progress + " more")
	fmt.Fprintln(term, logs[1])
	fmt.Fprint(term.Writer(tty), "a result on standard output\n")
	term.Clear()
	tty.Close()
	<-read
	lines, drawn := screenOf(screen.String())
	want := append(logs, "a result on standard output")
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("the lines left on the screen:\n%q\nwant\n%q", lines, want)
	}
	progressDrawn := 0
	for _, d := range drawn {
		if strings.HasPrefix(d, "time=") || strings.HasPrefix(d, "a result") {
			continue
		}
		progressDrawn++
		if n := len([]rune(d)); n >= 40 || !strings.HasSuffix(d, "…") || !strings.HasPrefix(d, "postgres/mastodon") {
			t.Errorf("the progress line as drawn (%d columns on a terminal of 40): %q", n, d)
		}
	}
	if progressDrawn < 4 {
		t.Errorf("the progress line was drawn %d times, want it under every log line too:\n%q", progressDrawn, screen.String())
	}
}

// TestTerminalUnfinishedLine: a write that leaves its line open (a
// prompt) is not followed by the progress line, which comes back once the
// line ends.
func TestTerminalUnfinishedLine(t *testing.T) {
	var out bytes.Buffer
	term := NewTerminal(&out)
	term.Show("step 1")
	fmt.Fprint(term, "continue? ")
	term.Show("step 2")
	if got := out.String(); got != clear+"step 1"+clear+"continue? " {
		t.Errorf("drawn into an open line: %q", got)
	}
	fmt.Fprint(term, "yes\n")
	if got := out.String(); !strings.HasSuffix(got, "continue? yes\n"+clear+"step 2") {
		t.Errorf("after the line ended: %q", got)
	}
}

func TestCut(t *testing.T) {
	for _, c := range []struct {
		line  string
		width int
		want  string
	}{
		{"", 80, ""},
		{"abc", 4, "abc"},
		{"abcd", 4, "ab…"},
		{"a | b | c", 6, "a…"},
		{"é€漢字x", 5, "é€…"},                      // 漢 takes two columns: 1+1+2+1 > 4
		{"é€漢字x", 8, "é€漢字x"},                    // 7 columns fit in 7
		{"ok ✅ done", 8, "ok ✅…"},                // ✅ is wide
		{"cafe\u0301 au lait", 7, "cafe\u0301…"}, // the combining accent takes no column
		{"abc", 0, "…"},
	} {
		if got := Cut(c.line, c.width); got != c.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", c.line, c.width, got, c.want)
		}
	}
	if w := Width(&bytes.Buffer{}); w != DefaultWidth {
		t.Errorf("the width of no terminal: %d", w)
	}
}
