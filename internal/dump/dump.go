// Package dump runs producer processes (pg_dump, redis-cli, mariadb-dump)
// for the dump packages and describes what they produced.
//
// Invariants: a producer succeeds only if it exited 0 and every byte of its
// stdout was accepted by the destination; a failed write kills the process
// (it never blocks on a full pipe), a cancelled context kills it too, and
// the error carries the tail of its stderr (less the progress lines a
// caller's watch takes, see RunWatch) with every given secret and any URL
// password replaced by [redacted]. Secrets never go into argv: callers
// pass them through the environment or a 0600 file. The producer's stdout
// pipe is grown to PipeSize where the system allows, so it runs ahead of
// the stream while the stream compresses, and is read ReadSize at a time;
// producers that write through C stdio are given a buffer as large
// (BufferedStdout), so both sides make few system calls.
package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"mbackup/internal/redact"
)

// Info describes a finished dump, for the manifest.
type Info struct {
	Command       string       `json:"command"`                  // argv without secrets
	Version       string       `json:"producer_version"`         // e.g. "pg_dump (PostgreSQL) 15.19"
	ServerVersion string       `json:"server_version,omitempty"` // e.g. "15.19"
	Tables        []TableCount `json:"tables,omitempty"`         // rows counted in the dump's own snapshot
	FileCount     int64        `json:"file_count,omitempty"`     // files: the regular files in the tar
	FileBytes     int64        `json:"file_bytes,omitempty"`     // files: their bytes
	Files         []FileSum    `json:"files,omitempty"`          // files: each regular file and symlink
	Notes         []string     `json:"notes,omitempty"`          // e.g. "role passwords not dumped"
	// Extensions are the extensions a PostgreSQL database dump creates
	// (pg_extension at the dump's snapshot, plpgsql included, so a dump
	// made since they are recorded never has none): nil in a manifest
	// made before, where they were not recorded.
	Extensions []string `json:"extensions,omitempty"`
	// Owner is the role that owned a dumped PostgreSQL database, which
	// must exist where it is restored: "" in a manifest made before it
	// was recorded.
	Owner string `json:"owner,omitempty"`
	// Keyspace is the number of keys of each database of a Redis RDB, counted from the dump's own
	// bytes; nil in a manifest made before it was recorded, or when the RDB holds a value type the
	// counter cannot skip (Notes says so).
	Keyspace []DBKeys `json:"keyspace,omitempty"`
}

// DBKeys is the number of keys of one Redis database in an RDB, and how
// many of them have an expiry.
type DBKeys struct {
	DB      int   `json:"db"`
	Keys    int64 `json:"keys"`
	Expires int64 `json:"expires,omitempty"`
}

// FileSum is one regular file (Size, SHA256) or symlink (Link) of a files
// artifact. Path is the absolute path it was backed up from. Keys, for a
// Mastodon .env.production, names the secrets keys it held (never their
// values).
type FileSum struct {
	Path   string   `json:"path"`
	Size   int64    `json:"size,omitempty"`
	SHA256 string   `json:"sha256,omitempty"`
	Link   string   `json:"link,omitempty"`
	Keys   []string `json:"keys,omitempty"`
}

// TableCount is the exact row count of one table at the dump's snapshot.
type TableCount struct {
	Schema string `json:"schema"`
	Table  string `json:"table"`
	Rows   int64  `json:"rows"`
}

// TailBytes is how much of a producer's stderr is kept for its error.
const TailBytes = 2048

// Run starts cmd, copies its stdout to w, waits for it and checks its exit
// status. cmd must come from exec.CommandContext(ctx, ...), so a cancelled
// context kills it, and must not have Stdout or Stderr set.
func Run(ctx context.Context, cmd *exec.Cmd, w io.Writer, secrets ...string) error {
	return RunWatch(ctx, cmd, w, nil, secrets...)
}

// RunWatch is Run, with every line of the process's stderr (without its
// newline) given to watch first when watch is set: a line for which it
// returns true (a progress line of a verbose program) is left out of the
// tail that the error carries. watch is called from one goroutine at a
// time.
func RunWatch(ctx context.Context, cmd *exec.Cmd, w io.Writer, watch func(line string) bool, secrets ...string) error {
	name := cmd.Args[0]
	stderr := &tail{max: TailBytes}
	cmd.Stderr = stderr
	var lines *lineWriter
	if watch != nil {
		lines = &lineWriter{watch: watch, rest: stderr}
		cmd.Stderr = lines
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	growPipe(out)
	cmd.WaitDelay = 10 * time.Second
	// Its own process group, so a kill reaches children that hold the pipe
	// (a shell's, say) and a terminal's ^C reaches only mbackup.
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if cmd.Cancel != nil {
		cmd.Cancel = func() error { return killGroup(cmd) }
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start: %w", name, err)
	}
	// Not io.Copy: *os.File's WriteTo would read 32 KiB at a time.
	_, copyErr := io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{out}, make([]byte, ReadSize))
	if copyErr != nil {
		killGroup(cmd) // it would block on a full pipe otherwise
	}
	waitErr := cmd.Wait()
	lines.flush() // Wait returns once all of stderr was written
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", name, ctx.Err())
	case copyErr != nil:
		return fmt.Errorf("%s: writing its output: %w", name, copyErr)
	case waitErr != nil:
		return fmt.Errorf("%s: %w%s", name, waitErr, stderr.describe(secrets))
	}
	return nil
}

// lineWriter splits what is written to it into lines for watch, and
// writes the lines watch does not take to rest. A line longer than
// TailBytes goes to rest in pieces, unwatched.
type lineWriter struct {
	watch func(string) bool
	rest  io.Writer
	buf   []byte
	long  bool // the line in buf is the end of one too long to watch
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.line(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > TailBytes {
		l.rest.Write(l.buf)
		l.buf, l.long = l.buf[:0], true
	}
	l.buf = append(make([]byte, 0, len(l.buf)), l.buf...) // let the consumed bytes go
	return len(p), nil
}

// line passes one line, with its newline if it has one, to watch, or to
// rest.
func (l *lineWriter) line(b []byte) {
	if l.long || !l.watch(strings.TrimSuffix(string(b), "\n")) {
		l.rest.Write(b)
	}
	l.long = false
}

// flush passes on an unfinished last line; nil does nothing.
func (l *lineWriter) flush() {
	if l == nil || len(l.buf) == 0 {
		return
	}
	l.line(l.buf)
	l.buf = nil
}

// PipeSize is what the producer's stdout pipe is grown to (Linux's
// default is 64 KiB): the producer then blocks less often on a full pipe
// while the stream compresses, and each read takes more at once.
const PipeSize = 1 << 20

// ReadSize is the most one read of the producer's stdout takes: as much
// as a producer given BufferedStdout writes at once.
const ReadSize = StdoutBuffer

// fSetPipeSize is Linux's F_SETPIPE_SZ fcntl.
const fSetPipeSize = 1031

// growPipe grows the pipe r reads to PipeSize, when it is a pipe and the
// system allows (an unprivileged process is capped by
// /proc/sys/fs/pipe-max-size, 1 MiB by default); it leaves it as it is
// otherwise.
func growPipe(r io.Reader) {
	f, ok := r.(*os.File)
	if !ok {
		return
	}
	if sc, err := f.SyscallConn(); err == nil {
		sc.Control(func(fd uintptr) {
			syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSize, PipeSize)
		})
	}
}

func killGroup(cmd *exec.Cmd) error {
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
	cut bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	return len(p), nil
}

// describe returns ": <stderr tail>" redacted, or "" when stderr was empty.
func (t *tail) describe(secrets []string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(Redact(string(bytes.ToValidUTF8(t.buf, nil)), secrets...))
	if s == "" {
		return ""
	}
	if t.cut {
		s = "..." + s
	}
	return ": " + s
}

// Redact replaces every secret, any password in a URL and any Slack
// credential in s by [redacted] (see package redact).
func Redact(s string, secrets ...string) string {
	return redact.String(s, redact.Mark, secrets...)
}

// Output runs a short command (a version query) and returns its trimmed
// stdout, or an error with its stderr.
func Output(ctx context.Context, cmd *exec.Cmd) (string, error) {
	// Bounded: a version probe or an INFO of a stopped or hung program
	// must not hang the run. The command is rebuilt on the bounded context.
	tctx, cancel := context.WithTimeout(ctx, OutputTimeout)
	defer cancel()
	c := exec.CommandContext(tctx, cmd.Path, cmd.Args[1:]...)
	c.Args[0], c.Env, c.Dir, c.Stdin = cmd.Args[0], cmd.Env, cmd.Dir, cmd.Stdin
	var out bytes.Buffer
	err := Run(tctx, c, &out)
	if err != nil && ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%s: no answer within %v (stopped or hung); killed", cmd.Args[0], OutputTimeout)
	}
	return strings.TrimSpace(out.String()), err
}

// OutputTimeout bounds the short commands Output runs.
var OutputTimeout = time.Minute

// ErrNotFound is wrapped when a producer binary is missing.
var ErrNotFound = errors.New("not found")
