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
	"syscall"
	"testing"
	"time"
)

const (
	// readyTimeout bounds how long a server may take to accept queries.
	readyTimeout = 60 * time.Second
	// stopTimeout bounds a graceful stop before the process group is killed.
	stopTimeout = 20 * time.Second
	// commandTimeout bounds one client command run by Exec, Query or Do.
	commandTimeout = 2 * time.Minute
	// probeTimeout bounds one readiness probe.
	probeTimeout = 5 * time.Second
	// portAttempts is how often a launch is retried when another process
	// took the free port between FreePort and the server's bind.
	portAttempts = 3
	// maxSocketPath keeps Unix socket paths within sun_path (108 bytes).
	maxSocketPath = 100
)

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
	path, err := lookBinary(name, installHint)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func lookBinary(name, installHint string) (string, error) {
	if path, err := exec.LookPath(name); err == nil {
		return path, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		path := filepath.Join(dir, name)
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return path, nil
		}
	}
	return "", fmt.Errorf("testenv: %s not found in PATH; install it with: %s", name, installHint)
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

// cleanEnv returns the environment of this process without the variables
// whose names start with one of prefixes, so that a developer's PGHOST or
// MYSQL_HOST cannot point a test at the machine's own servers.
func cleanEnv(prefixes ...string) []string {
	var env []string
next:
	for _, kv := range os.Environ() {
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
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

// socketDir returns a directory for Unix sockets: want when its socket paths
// fit in sun_path, else a new short directory under os.TempDir(), which the
// caller must remove (cleanup is then non-empty).
func socketDir(want string) (dir, cleanup string, err error) {
	if len(want)+len("/.s.PGSQL.65535.lock") <= maxSocketPath {
		return want, "", nil
	}
	dir, err = os.MkdirTemp("", "tenv-")
	if err != nil {
		return "", "", fmt.Errorf("testenv: socket directory: %w", err)
	}
	return dir, dir, nil
}

// waitReady polls probe, every 10ms at first and then less often, until it
// succeeds, the server exits
// (exited is closed) or readyTimeout passes. Each probe gets probeTimeout and
// is cancelled if the server exits, since a client may hang on a port that
// another process took.
func waitReady(exited <-chan struct{}, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		pctx, pcancel := context.WithTimeout(ctx, probeTimeout)
		err := probe(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("server exited: last probe: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %v", readyTimeout, err)
		case <-time.After(wait):
		}
	}
}

// withLog adds the tail of a server's log to a startup error and marks it
// with errPortTaken when the log says the port was taken.
func withLog(what string, err error, logPath string) error {
	tail := logTail(logPath)
	if strings.Contains(tail, "already in use") {
		err = fmt.Errorf("%w: %w", errPortTaken, err)
	}
	return fmt.Errorf("testenv: start %s: %w\n--- tail of %s ---\n%s", what, err, logPath, tail)
}

// logTail returns the last lines of a log file, at most about 4 KiB.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 4096
	if len(data) > max {
		data = data[len(data)-max:]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	return strings.TrimRight(string(data), "\n")
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

// process is a server started as a child of this process, in its own process
// group (so a Ctrl-C meant for go test does not reach it first), killed by the
// kernel if this process dies first. The parent-death signal follows the OS
// thread that started the child; the Go runtime ends a thread only when a
// goroutine exits while locked to it, which this package never does.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
}

// startProcess starts cmd with its output appended to logPath.
func startProcess(cmd *exec.Cmd, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop sends sig to the process group, waits up to stopTimeout, then kills
// the group and waits for the process to be reaped.
func (p *process) stop(sig syscall.Signal) error {
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, sig)
	select {
	case <-p.done:
		syscall.Kill(-pgid, syscall.SIGKILL) // stray children, if any
		return nil
	case <-time.After(stopTimeout):
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
		return fmt.Errorf("did not stop within %v after %v; killed", stopTimeout, sig)
	case <-time.After(stopTimeout):
		return fmt.Errorf("pid %d survived SIGKILL", pgid)
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
