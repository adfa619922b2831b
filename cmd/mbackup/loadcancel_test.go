package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignalWhileLoadingConfig: a configuration that never finishes
// loading (a FIFO nobody writes, like a file on a hung mount) does not keep
// a SIGTERM waiting: the command returns as interrupted.
func TestSignalWhileLoadingConfig(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "mbackup.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Release the loader blocked in open(2) when the test ends.
	defer func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel) // what SIGTERM does in main
	var out, errb bytes.Buffer
	start := time.Now()
	code := run(ctx, []string{"--config", fifo, "list"}, strings.NewReader(""), &out, &errb)
	t.Logf("returned %v after the cancel", time.Since(start)-200*time.Millisecond)
	if code != exitInterrupted || !strings.Contains(errb.String(), "interrupted") {
		t.Fatalf("exit %d, want %d; stderr: %s", code, exitInterrupted, errb.String())
	}
}

// TestHostileConfigRefused: a 100,000-deep YAML given to a command is a
// configuration error (exit 2) naming the line, without parsing it.
func TestHostileConfigRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mbackup.yaml")
	os.WriteFile(p, []byte("storage: "+strings.Repeat("[", 100_000)+"\n"), 0o600)
	var out, errb bytes.Buffer
	start := time.Now()
	code := run(context.Background(), []string{"--config", p, "list"}, strings.NewReader(""), &out, &errb)
	t.Logf("refused in %v", time.Since(start))
	if code != exitUsage || !strings.Contains(errb.String(), "mbackup.yaml:1: nested more than 32 levels deep") {
		t.Fatalf("exit %d; stderr: %s", code, errb.String())
	}
}
