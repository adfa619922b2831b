package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestLoadContextGivesUp: a file that never opens (a FIFO nobody writes)
// does not keep a cancelled load waiting; a file that does not exist is
// Load's error.
func TestLoadContextGivesUp(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "mbackup.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() { // release the loader blocked in open(2)
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := LoadContext(ctx, fifo); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled load of a FIFO: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "none.yaml")
	if _, _, err := LoadContext(context.Background(), missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}
