package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"mbackup/internal/testenv"
)

// openPTY returns the two ends of a new pseudo-terminal: what is written
// to tty is read from master.
func openPTY(t *testing.T) (master, tty *os.File) {
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
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("the pseudo-terminal's other end: %v", err)
	}
	return master, tty
}

// TestRestoreBarOnTerminal restores onto a terminal: the long phases are
// drawn as a bar redrawn in place ("\r\033[K"), the log lines clear it
// before they are written, and the bar is cleared before the report.
func TestRestoreBarOnTerminal(t *testing.T) {
	dir, cfg, m := restoreFixture(t)
	fresh := testenv.StartPostgres(t)
	t.Setenv("PGPASSWORD", fresh.Password)
	master, tty := openPTY(t)
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() { io.Copy(&screen, master); close(read) }()
	var errb bytes.Buffer
	code := run(context.Background(), []string{"--config", cfg, "restore", "--yes", "-i", filepath.Join(dir, "id.txt"),
		"--only", "postgres/rst_app,postgres/globals", "--pg-host", fresh.Host, "--pg-port", strconv.Itoa(fresh.Port),
		"--pg-user", fresh.User, "--pg-sslmode", "disable", "--staging", t.TempDir()}, strings.NewReader(""), tty, &errb)
	tty.Close()
	<-read // the master reads EIO once the last holder of the terminal closed it
	out := strings.ReplaceAll(screen.String(), "\r\n", "\n")
	if code != exitOK {
		t.Fatalf("restore on a terminal exited %d:\n%q\n%s", code, out, errb.String())
	}
	const redraw = "\r\x1b[K"
	for _, want := range []string{redraw + "postgres/rst_app: check ", redraw + "postgres/rst_app: apply "} {
		if !strings.Contains(out, want) {
			t.Errorf("the terminal shows no %q:\n%q", want, out)
		}
	}
	// After the last clear comes a whole log line, not a bar left drawn.
	report := strings.Index(out, "\nsnapshot "+m.ID+":")
	last := strings.LastIndex(out, redraw)
	if report < 0 || last < 0 || last > report {
		t.Fatalf("no report after the bar:\n%q", out)
	}
	if line, _, _ := strings.Cut(out[last+len(redraw):], "\n"); line != "" && !strings.Contains(line, "restored in") {
		t.Errorf("the bar was left drawn before the report: %q", line)
	}
}
