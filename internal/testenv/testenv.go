package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mbackup/internal/sandbox"
	"time"
)

const (
	// readyTimeout bounds how long a server may take to accept queries.
	readyTimeout = 60 * time.Second
	// commandTimeout bounds one client command run by Exec, Query or Do.
	commandTimeout = 2 * time.Minute
	// portAttempts is how often a launch is retried when another process
	// took the free port between FreePort and the server's bind.
	portAttempts = 3
)

// process is a server started as a child of the test binary (see
// sandbox.Process).
type process = sandbox.Process

// cleanEnv is sandbox.CleanEnv: a developer's PGHOST or MYSQL_HOST cannot
// point a test at the machine's own servers.
func cleanEnv(prefixes ...string) []string { return sandbox.CleanEnv(prefixes...) }

// waitReady waits up to readyTimeout for probe to succeed while the server
// runs (see sandbox.WaitReady).
func waitReady(exited <-chan struct{}, probe func(context.Context) error) error {
	return sandbox.WaitReady(context.Background(), exited, readyTimeout, probe)
}

// errPortTaken marks a launch that failed because the port was taken.
var errPortTaken = errors.New("port already in use")

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may still take it before the caller binds it; the Launch functions
// retry with a new port when that happens.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testenv: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// LookBinary returns the path of the executable name, looked up in PATH and
// then in the sbin directories, which a non-root PATH often lacks. A missing
// binary fails t with installHint (for example "apt-get install -y
// postgresql"); it never skips.
func LookBinary(t testing.TB, name, installHint string) string {
	t.Helper()
	path, err := sandbox.Binaries{}.Look(name, installHint)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// newPassword returns a random password that needs no quoting anywhere.
func newPassword() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// writeSecret writes data to a new file readable by its owner only.
func writeSecret(path, data string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runClient runs a client command with stdin, bounded by ctx and by
// commandTimeout, and returns its stdout. The error carries stderr but never
// the environment.
func runClient(ctx context.Context, env []string, stdin string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %v: %s", filepath.Base(name), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// withLog adds the tail of a server's log to a startup error and marks it
// with errPortTaken when the log says the port was taken.
func withLog(what string, err error, logPath string) error {
	tail := sandbox.LogTail(logPath)
	if strings.Contains(tail, "already in use") {
		err = fmt.Errorf("%w: %w", errPortTaken, err)
	}
	return fmt.Errorf("testenv: start %s: %w\n--- tail of %s ---\n%s", what, err, logPath, tail)
}

// retryPort runs launch up to portAttempts times while it fails because
// another process took its port.
func retryPort[T any](launch func(string) (T, error), dir string) (T, error) {
	for i := 1; ; i++ {
		v, err := launch(dir)
		if err == nil || !errors.Is(err, errPortTaken) || i == portAttempts {
			return v, err
		}
	}
}

// ParentPID returns the parent of process pid, from /proc/pid/stat, or 0.
// Tests that kill a producer use it to touch only their own children, since
// other packages' tests run the same tools at the same time.
func ParentPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// "pid (comm) state ppid ...": comm may hold spaces, so read after ')'.
	var state string
	var ppid int
	fmt.Sscanf(string(b[bytes.LastIndexByte(b, ')')+1:]), " %s %d", &state, &ppid)
	return ppid
}
