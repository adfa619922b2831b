package dump

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n += len(p); f.n > 1<<20 {
		return 0, errors.New("upload gone")
	}
	return len(p), nil
}

func TestRun(t *testing.T) {
	cases := []struct {
		name, script, want string
	}{
		{"ok", "echo hello", ""},
		{"exit 1", "echo 'FATAL: password authentication failed, password hunter2' >&2; exit 1", "exit status 1: FATAL: password authentication failed, password [redacted]"},
		{"killed", "echo partial; kill -9 $$", "signal: killed"},
		{"url password", "echo 'could not connect to redis://:hunter3@host:6379' >&2; exit 2", "redis://:[redacted]@host"},
		{"long stderr", "head -c 10000 /dev/zero | tr '\\0' 'e' >&2; echo END >&2; exit 1", "...eee"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		err := Run(context.Background(), exec.Command("sh", "-c", c.script), &out, "hunter2")
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want it to contain %q", c.name, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "hunter3")) {
			t.Errorf("%s: secret in error %q", c.name, err)
		}
		if err != nil && len(err.Error()) > TailBytes+200 {
			t.Errorf("%s: error of %d bytes", c.name, len(err.Error()))
		}
	}
}

// TestRunWriteFails shows a producer is killed, not left blocked on a full
// pipe, when its destination stops accepting bytes.
func TestRunWriteFails(t *testing.T) {
	start := time.Now()
	err := Run(context.Background(), exec.Command("sh", "-c", "cat /dev/zero"), &failingWriter{})
	if err == nil || !strings.Contains(err.Error(), "writing its output: upload gone") {
		t.Fatalf("Run = %v", err)
	}
	t.Logf("failed after %v", time.Since(start))
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	var out bytes.Buffer
	err := Run(ctx, exec.CommandContext(ctx, "sh", "-c", "echo started; sleep 60; echo not reached"), &out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
}

func TestRunMissingBinary(t *testing.T) {
	err := Run(context.Background(), exec.Command("/nonexistent/pg_dump"), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/pg_dump: start") {
		t.Fatalf("Run = %v", err)
	}
}

// TestOutputOfAStoppedProgram: a version probe that stops itself is killed
// after OutputTimeout instead of hanging the run.
func TestOutputOfAStoppedProgram(t *testing.T) {
	defer func(d time.Duration) { OutputTimeout = d }(OutputTimeout)
	def := OutputTimeout
	OutputTimeout = 300 * time.Millisecond
	ctx := context.Background()
	_, err := Output(ctx, exec.CommandContext(ctx, "sh", "-c", "kill -STOP $$"))
	if err == nil || !strings.Contains(err.Error(), "sh: no answer within 300ms (stopped or hung); killed") {
		t.Fatalf("Output of a stopped program: %v", err)
	}
	// A program that answers, under the default timeout: 300 ms is less
	// than a loaded machine may take to start one.
	OutputTimeout = def
	if out, err := Output(ctx, exec.CommandContext(ctx, "echo", "ok")); err != nil || out != "ok" {
		t.Errorf("Output(echo) = %q, %v", out, err)
	}
}

// waitingWriter holds its first write until the file marker exists.
type waitingWriter struct {
	marker string
	waited bool
	ok     bool
	n      int
}

func (w *waitingWriter) Write(p []byte) (int, error) {
	if !w.waited {
		w.waited = true
		for deadline := time.Now().Add(5 * 10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(w.marker); err == nil {
				w.ok = true
				break
			}
		}
	}
	w.n += len(p)
	return len(p), nil
}

// TestPipeGrown: the producer's stdout pipe holds PipeSize, so a producer
// can write 900 KiB and go on while the first write downstream waits (with
// Linux's default 64 KiB pipe it would block until that write returned).
func TestPipeGrown(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "written")
	w := &waitingWriter{marker: marker}
	script := "head -c 921600 /dev/zero && touch " + marker
	if err := Run(context.Background(), exec.Command("sh", "-c", script), w); err != nil {
		t.Fatal(err)
	}
	if !w.ok || w.n != 921600 {
		t.Errorf("the producer did not write 900 KiB into the pipe while nothing read it (marker seen: %v; %d bytes)", w.ok, w.n)
	}
}
