package lock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestAcquireExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	l, err := Acquire(path, "mbackup daemon: backup")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(path, "mbackup backup")
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "mbackup daemon: backup") || !strings.Contains(err.Error(), "this mbackup backup did not start") {
		t.Fatalf("second Acquire: %v", err)
	}
	t.Log(err)
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(path, "mbackup backup")
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the lock file was removed: %v", err)
	}
}

// TestKilledHolderReleases: a holder killed with SIGKILL leaves no stale lock.
func TestKilledHolderReleases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	cmd := exec.Command("flock", "--close", path, "sleep", "60") // only flock(1) itself holds it
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal("flock(1), from util-linux:", err)
	}
	busy := false
	for i := 0; i < 500 && !busy; i++ { // until flock(1) has locked
		l, err := Acquire(path, "probe")
		busy = errors.Is(err, ErrBusy)
		if err == nil {
			l.Release()
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !busy {
		t.Fatal("flock(1) never took the lock")
	}
	cmd.Process.Kill() // SIGKILL: no chance to unlock
	cmd.Wait()
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its sleep
	// flock(1)'s child may still hold the inherited descriptor for a moment
	// (it closes it just before exec): the lock goes when the last one does.
	var l *Lock
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if l, err = Acquire(path, "after the kill"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	l.Release()
}

func TestPathPerStore(t *testing.T) {
	if Path("b2:bucket/a") == Path("b2:bucket/b") || Path("x") != Path("x") {
		t.Error("Path must differ per store and be stable")
	}
}
