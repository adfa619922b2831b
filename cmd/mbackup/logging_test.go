package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// journalFile is a file standing for the journal's stream: stderr of a
// run, with JOURNAL_STREAM naming it as systemd does.
func journalFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "journal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	return f
}

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestLogJournald runs a backup whose Redis is down under systemd
// (JOURNAL_STREAM names standard error), in both log formats: every line
// of standard error starts with its priority, the failed artifact a
// warning, the exit message an error, and no line carries a time.
func TestLogJournald(t *testing.T) {
	_, cfg := setup(t, "  databases: [postgres]\n  globals: false\n")
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(text, []byte(redis.Addr), []byte(closedAddr(t)), 1), 0o600)
	prefixed := regexp.MustCompile(`^<[3467]>`)
	for _, c := range []struct {
		format string
		want   []string
	}{
		{"text", []string{`<6>level=INFO msg="taking a snapshot"`, `<4>level=WARN msg="artifact failed" component=redis`, "<3>mbackup: "}},
		{"json", []string{`<6>{"level":"INFO","msg":"taking a snapshot"`, `<4>{"level":"WARN","msg":"artifact failed","component":"redis"`, "<3>mbackup: "}},
	} {
		t.Run(c.format, func(t *testing.T) {
			f := journalFile(t)
			var out bytes.Buffer
			code := run(context.Background(), []string{"--config", cfg, "--log-format", c.format, "backup"}, nil, &out, f)
			b, _ := os.ReadFile(f.Name())
			log := string(b)
			if code != exitPartial {
				t.Fatalf("backup with redis down exited %d, want %d:\n%s", code, exitPartial, log)
			}
			for _, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
				if !prefixed.MatchString(line) {
					t.Errorf("a line without its priority: %q", line)
				}
			}
			for _, w := range c.want {
				if !strings.Contains(log, w) {
					t.Errorf("no %q in:\n%s", w, log)
				}
			}
			for _, bad := range []string{"time=", `"time":`, "0001-01-01"} {
				if strings.Contains(log, bad) {
					t.Errorf("%q in the journal's lines:\n%s", bad, log)
				}
			}
		})
	}
}

// TestLogNotJournal: JOURNAL_STREAM inherited by a run whose standard
// error is elsewhere (a file, a pipe) prefixes nothing; a bad
// --log-format is a usage error.
func TestLogNotJournal(t *testing.T) {
	other := journalFile(t) // sets JOURNAL_STREAM to a file that is not stderr
	defer other.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, w := range []io.Writer{f, &bytes.Buffer{}} {
		if underJournal(w, os.Getenv("JOURNAL_STREAM")) {
			t.Errorf("%T taken for the journal", w)
		}
	}
	if !underJournal(other, os.Getenv("JOURNAL_STREAM")) {
		t.Error("the journal's stream not recognized")
	}
	code := run(context.Background(), []string{"--config", "/nonexistent/mbackup.yaml", "list"}, nil, io.Discard, f)
	b, _ := os.ReadFile(f.Name())
	if code != exitUsage || !strings.HasPrefix(string(b), "mbackup: ") {
		t.Errorf("list without a config exited %d: %q", code, b)
	}
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"--log-format", "xml", "list"}, nil, io.Discard, &errb); code != exitUsage || !strings.Contains(errb.String(), "give text or json") {
		t.Errorf("--log-format xml exited %d: %s", code, errb.String())
	}
}

// sizePTY sets the width of the terminal master is the master of.
func sizePTY(t *testing.T, master *os.File, cols uint16) {
	t.Helper()
	ws := struct{ rows, cols, x, y uint16 }{24, cols, 0, 0}
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSWINSZ, uintptr(unsafe.Pointer(&ws))); errno != 0 {
		t.Fatalf("sizing the pseudo-terminal: %v", errno)
	}
}

// onPTY runs mbackup with standard error on a new terminal cols wide and
// returns its exit code, standard output, and what the terminal shows:
// the lines left on the screen and every progress line as drawn.
func onPTY(t *testing.T, cols uint16, args ...string) (code int, stdout string, lines, drawn []string) {
	t.Helper()
	master, tty := openPTY(t)
	sizePTY(t, master, cols)
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() { io.Copy(&screen, master); close(read) }()
	var out bytes.Buffer
	code = run(context.Background(), args, nil, &out, tty)
	tty.Close()
	<-read
	lines, drawn = screenOf(screen.String())
	return code, out.String(), lines, drawn
}

// screenOf is what a terminal shows of out: the lines left on the
// screen, and every text drawn then erased by "\r\033[K" (the progress
// line).
func screenOf(out string) (lines, drawn []string) {
	const clear = "\r\033[K"
	out = strings.ReplaceAll(out, "\r\n", "\n")
	var cur string
	for len(out) > 0 {
		switch {
		case strings.HasPrefix(out, clear):
			if cur != "" {
				drawn = append(drawn, cur)
			}
			cur, out = "", out[len(clear):]
		case out[0] == '\n':
			lines, cur, out = append(lines, cur), "", out[1:]
		default:
			i := strings.IndexAny(out, "\r\n")
			if i < 0 {
				i = len(out)
			}
			cur, out = cur+out[:i], out[i:]
			if strings.HasPrefix(out, "\r") && !strings.HasPrefix(out, clear) {
				drawn, cur, out = append(drawn, cur), "", out[1:]
			}
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines, drawn
}

// TestBackupProgressOnTerminal backs up onto a terminal 50 columns wide:
// the log lines written while the progress line is drawn are each on a
// line of their own, the progress line is drawn, cut to the width, and
// gone at the end.
func TestBackupProgressOnTerminal(t *testing.T) {
	pg.Exec(t, "postgres", "DROP DATABASE IF EXISTS tty_app; CREATE DATABASE tty_app")
	pg.Exec(t, "tty_app", "CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 20000) g")
	_, cfg := setup(t, "  databases: [tty_app]\n")
	code, out, lines, drawn := onPTY(t, 50, "--config", cfg, "backup")
	if code != exitOK {
		t.Fatalf("backup on a terminal exited %d:\n%s\n%q", code, out, lines)
	}
	logLine := regexp.MustCompile(`^time=\S+ level=[A-Z]+ msg=`)
	stored := 0
	for _, l := range lines {
		if !logLine.MatchString(l) {
			t.Errorf("a line on the screen that is no whole log line: %q", l)
		}
		if strings.Contains(l, `msg="artifact stored"`) {
			stored++
		}
	}
	if stored < 3 {
		t.Errorf("%d artifacts stored on the screen, want tty_app, globals and redis:\n%q", stored, lines)
	}
	progressDrawn := 0
	for _, d := range drawn {
		if n := len([]rune(d)); n >= 50 {
			t.Errorf("a progress line of %d columns on a terminal of 50: %q", n, d)
		}
		if regexp.MustCompile(`^(postgres|redis|mysql)/`).MatchString(d) {
			progressDrawn++
		}
	}
	if progressDrawn == 0 {
		t.Errorf("no progress line drawn: %q", drawn)
	}
}

// TestVerifyProgressOnTerminal: verify draws its progress on a terminal
// and clears it before the verdict; off a terminal it draws nothing.
func TestVerifyProgressOnTerminal(t *testing.T) {
	_, cfg, m := restoreFixture(t)
	code, out, lines, drawn := onPTY(t, 60, "--config", cfg, "verify")
	if code != exitOK || !strings.Contains(out, m.ID+": complete") {
		t.Fatalf("verify on a terminal exited %d:\n%s\n%q", code, out, lines)
	}
	want := regexp.MustCompile(`^verify ` + m.ID + `: \d+ of \d+`)
	seen := false
	for _, d := range drawn {
		seen = seen || want.MatchString(d)
		if n := len([]rune(d)); n >= 60 {
			t.Errorf("a progress line of %d columns on a terminal of 60: %q", n, d)
		}
	}
	if !seen {
		t.Errorf("no verify progress drawn: %q", drawn)
	}
	if len(lines) != 0 {
		t.Errorf("verify left on the terminal: %q", lines)
	}
	_, _, errOut := mbackup(t, "--config", cfg, "verify")
	if strings.Contains(errOut, "\r") {
		t.Errorf("progress drawn off a terminal: %q", errOut)
	}
}
