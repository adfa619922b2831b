package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

const (
	// StopTimeout bounds a graceful stop before the process group is
	// killed, and then the wait for the kill.
	StopTimeout = 20 * time.Second
	// ReadyTimeout bounds how long a server may take to accept queries.
	ReadyTimeout = 60 * time.Second
	// probeTimeout bounds one readiness probe.
	probeTimeout = 5 * time.Second
)

// Process is a server started as a child of this process, in its own
// process group (so a Ctrl-C meant for this process does not reach it
// first), killed by the kernel if this process dies first. The
// parent-death signal follows the OS thread that started the child; the Go
// runtime ends a thread only when a goroutine exits while locked to it,
// which this package never does.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
}

// StartProcess starts cmd with its output appended to logPath.
func StartProcess(cmd *exec.Cmd, logPath string) (*Process, error) {
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
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Pid is the process's id, which is also its process group's.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Path is the program the process runs.
func (p *Process) Path() string { return p.cmd.Path }

// Stop sends sig to the process group, waits up to StopTimeout, then kills
// the group and waits for the process to be reaped.
func (p *Process) Stop(sig syscall.Signal) error {
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, sig)
	select {
	case <-p.done:
		syscall.Kill(-pgid, syscall.SIGKILL) // stray children, if any
		return nil
	case <-time.After(StopTimeout):
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
		return fmt.Errorf("did not stop within %v after %v; killed", StopTimeout, sig)
	case <-time.After(StopTimeout):
		return fmt.Errorf("pid %d survived SIGKILL", pgid)
	}
}

// WaitReady polls probe, every 10ms at first and then less often, until it
// succeeds, the server exits (exited is closed), ctx ends or timeout
// passes. Each probe gets its own short deadline and is cancelled if the
// server exits, since a client may hang on a socket nobody serves.
func WaitReady(parent context.Context, exited <-chan struct{}, timeout time.Duration, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
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
			if perr := parent.Err(); perr != nil {
				return fmt.Errorf("%w: last probe: %v", perr, err)
			}
			return fmt.Errorf("not ready after %v: %v", timeout, err)
		case <-time.After(wait):
		}
	}
}

// LogTail returns the last lines of a log file, at most about 4 KiB.
func LogTail(path string) string {
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

// CleanEnv returns the environment of this process without the variables
// whose names start with one of prefixes, so that an admin's PGHOST or
// MYSQL_HOST cannot point a server or client elsewhere, with LC_ALL=C.
func CleanEnv(prefixes ...string) []string {
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
