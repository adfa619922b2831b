// Package lock keeps two mbackup runs from writing the same store at once:
// the daemon's scheduled jobs and a manual "mbackup backup" or "mbackup
// prune" take the same lock, so they never overlap, whichever starts first.
//
// Invariants:
//   - The lock is flock(2) on a file named after the store, in /run/mbackup
//     when that directory exists (the systemd unit's RuntimeDirectory), else
//     in the system's temporary directory. The kernel releases it when the
//     holder exits, even on SIGKILL: a crashed run never leaves a stale
//     lock.
//   - The lock file is never removed (a process may already wait on its
//     inode); its content is the holder's pid and what it runs, for the
//     message of the one that finds it taken. It is created 0644 and
//     locked through a read-only descriptor, so the daemon's user and root
//     share it whichever created it; recording the holder is best effort.
package lock

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gofrs/flock"
)

// RunDir is where the lock lives when it exists.
const RunDir = "/run/mbackup"

// ErrBusy is returned when another run holds the lock.
var ErrBusy = errors.New("lock: another mbackup run is using this store")

// Lock is a held lock.
type Lock struct {
	f *flock.Flock
}

// Path returns the lock file of the store named by storeKey (a string that
// identifies the store, such as its type, bucket and prefix).
func Path(storeKey string) string {
	dir := os.TempDir()
	if fi, err := os.Stat(RunDir); err == nil && fi.IsDir() {
		dir = RunDir
	}
	sum := sha256.Sum256([]byte(storeKey))
	return filepath.Join(dir, "mbackup-"+hex.EncodeToString(sum[:6])+".lock")
}

// Acquire takes the lock at path without waiting. When another run holds
// it, the error wraps ErrBusy and says who holds it.
func Acquire(path, what string) (*Lock, error) {
	f := flock.New(path, flock.SetPermissions(0o644))
	ok, err := f.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock: %s: %w", path, err)
	}
	if !ok {
		holder, _ := os.ReadFile(path)
		return nil, fmt.Errorf("%w (%s, lock file %s); this %s did not start",
			ErrBusy, describe(strings.TrimSpace(string(holder))), path, what)
	}
	writeHolder(path, what) // another user's file: the lock holds all the same
	return &Lock{f: f}, nil
}

func describe(holder string) string {
	if holder == "" {
		return "holder unknown"
	}
	return holder
}

// writeHolder records the holder in the lock file, for the next one.
func writeHolder(path, what string) error {
	h, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("lock: %s: %w", path, err)
	}
	defer h.Close()
	_, err = fmt.Fprintf(h, "pid %d: %s\n", os.Getpid(), what)
	return err
}

// Release releases the lock.
func (l *Lock) Release() error {
	return l.f.Unlock()
}
