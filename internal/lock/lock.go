// Package lock keeps mbackup runs on one store out of each other's way:
// the daemon's jobs and manual commands take the same locks, whichever
// starts first.
//
// Invariants:
//   - Two locks per store, each flock(2) on a file of its own. The
//     writers' lock is exclusive, taken by whatever writes the store
//     (backup, mirror, prune, the daemon's backup and mirror jobs) and
//     never waited for: a second writer does not start (ErrBusy). The
//     readers' lock is shared by restore and verify, and exclusive for
//     prune, so prune never deletes while a reader reads; a backup (the
//     writers' lock only) runs beside a restore.
//   - Where: a local store's lock files are in the store's own directory,
//     its resolved real path (every spelling of the directory shares
//     them), named .mbackup-lock and .mbackup-readers (the local store
//     reserves the ".mbackup-" prefix and never lists such names). Other
//     stores' are in $MBACKUP_LOCK_DIR when set, else /run/mbackup
//     (RunDir; root creates it 0755 when missing), else $XDG_RUNTIME_DIR,
//     named after a hash of the store's canonical identity (the caller
//     normalises it); when none is usable the error says what to create.
//   - Never in a directory others can write: one that is group- or
//     world-writable, or owned by another user than the caller or root, is
//     refused. One exception: root accepts RunDir and a local store's
//     directory owned by another user (the service user of the daemon),
//     so that a manual run as root and the daemon share the lock; root
//     then creates its lock files owned by that user, for the daemon to
//     open them.
//   - A lock file is opened with openat(2) on the checked directory's
//     descriptor with O_NOFOLLOW|O_NONBLOCK, and used only when fstat says
//     a regular file with one link, owned by the caller, the directory's
//     owner or root: a symlink, FIFO, directory or hard link planted at
//     its name is refused with an error naming it, and nothing is ever
//     written through a name. Created 0600 (an older 0644 file of ours is
//     made 0600). The holder's line is written through the locked
//     descriptor (ftruncate, pwrite); who holds a lock is read from
//     /proc/locks, so a stale line never names the wrong holder.
//   - The kernel releases a lock when its holder exits, even on SIGKILL:
//     a crashed run never leaves a stale lock. Lock files are never
//     removed (a process may already wait on the inode).
//   - Holder looks without locking: probing never makes a writer fail.
//   - flock coordinates the processes of one host only: a restore on
//     another machine is not seen by this host's prune.
package lock

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
)

// DirEnv names the environment variable that, when set, is the directory
// of the locks of every store that is not a local directory (for tests, or
// a host without /run/mbackup). It is checked like any other lock
// directory.
const DirEnv = "MBACKUP_LOCK_DIR"

// RunDir is the lock directory of stores that are not local directories
// (the systemd unit's RuntimeDirectory). Tests point it elsewhere.
var RunDir = "/run/mbackup"

// Lock file names in a local store's directory.
const (
	localWriters = ".mbackup-lock"
	localReaders = ".mbackup-readers"
)

// ErrBusy is returned when another run holds the writers' lock.
var ErrBusy = errors.New("lock: another mbackup run is using this store")

// ErrReaders is returned by ExcludeReaders, when told not to wait, while
// a restore or verify holds the readers' lock.
var ErrReaders = errors.New("lock: a restore or verify is reading this store")

// Place is where a store's two lock files are.
type Place struct {
	dir              string
	writers, readers string
	// service: root accepts the directory owned by another user.
	service bool
}

// Path is the writers' lock file.
func (p Place) Path() string { return filepath.Join(p.dir, p.writers) }

// ReadersPath is the readers' lock file.
func (p Place) ReadersPath() string { return filepath.Join(p.dir, p.readers) }

// InDir is the place of the locks of the local store in directory dir,
// which is created (0700) when missing, as the store does.
func InDir(dir string) (Place, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Place{}, fmt.Errorf("lock: store directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return Place{}, fmt.Errorf("lock: store directory: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return Place{}, fmt.Errorf("lock: store directory: %w", err)
	}
	return Place{dir: real, writers: localWriters, readers: localReaders, service: true}, nil
}

// ForKey is the place of the locks of the store whose canonical identity
// is key (such as "b2|https://api.backblazeb2.com|bucket|prefix").
func ForKey(key string) (Place, error) {
	sum := sha256.Sum256([]byte(key))
	name := "mbackup-" + hex.EncodeToString(sum[:8])
	p := Place{writers: name + ".lock", readers: name + ".readers"}
	if d := os.Getenv(DirEnv); d != "" {
		if !filepath.IsAbs(d) {
			return Place{}, fmt.Errorf("lock: $%s=%q is not an absolute path", DirEnv, d)
		}
		p.dir = d
		return p, nil
	}
	fi, err := os.Stat(RunDir)
	if errors.Is(err, fs.ErrNotExist) && os.Geteuid() == 0 {
		if err = os.Mkdir(RunDir, 0o755); errors.Is(err, fs.ErrExist) {
			err = nil
		}
		if err == nil {
			fi, err = os.Stat(RunDir)
		}
	}
	switch {
	case err == nil && !fi.IsDir():
		return Place{}, fmt.Errorf("lock: %s is not a directory", RunDir)
	case err == nil:
		p.dir, p.service = RunDir, true
		return p, nil
	case !errors.Is(err, fs.ErrNotExist):
		return Place{}, fmt.Errorf("lock: %w", err)
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		p.dir = d
		return p, nil
	}
	return Place{}, fmt.Errorf("lock: no directory for this store's lock: %s does not exist and $XDG_RUNTIME_DIR is not set; "+
		"create it (as root: install -d -m 0755 -o %s %s) or set $%s to a directory only you can write", RunDir, me(), RunDir, DirEnv)
}

// me is the caller's user name, else its uid.
func me() string {
	return userName(uint32(os.Geteuid()))
}

// meOrRoot is "root", or "NAME or root".
func meOrRoot() string {
	if os.Geteuid() == 0 {
		return "root"
	}
	return me() + " or root"
}

// userName is uid's name, else the number.
func userName(uid uint32) string {
	if u, err := user.LookupId(fmt.Sprint(uid)); err == nil {
		return u.Username
	}
	return fmt.Sprint(uid)
}
