package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// pollEvery is how often a waiting lock is tried again.
const pollEvery = 200 * time.Millisecond

// Lock is a held lock.
type Lock struct {
	f *os.File
}

// Release releases the lock.
func (l *Lock) Release() error {
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	return errors.Join(err, l.f.Close())
}

// Acquire takes the writers' lock of p without waiting for what (e.g.
// "mbackup backup"). When another run holds it, the error wraps ErrBusy
// and says who holds it.
func Acquire(p Place, what string) (*Lock, error) {
	f, err := open(p, p.writers, true)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s, lock file %s); this %s did not start", ErrBusy, describe(f), f.Name(), what)
		}
		return nil, fmt.Errorf("lock: %s: %w", f.Name(), err)
	}
	writeHolder(f, what) // best effort: a read-only descriptor locks all the same
	return &Lock{f: f}, nil
}

// Share takes the readers' lock of p shared, for a restore or verify
// (what). While a prune holds it, Share calls waiting once with a message
// naming the holder and waits until it is free or ctx ends.
func Share(ctx context.Context, p Place, what string, waiting func(string)) (*Lock, error) {
	return readers(ctx, p, syscall.LOCK_SH, what, waiting)
}

// ExcludeReaders takes the readers' lock of p exclusively, for a prune
// (what): no restore or verify reads the store while it is held. With
// waiting nil it does not wait: the error wraps ErrReaders and names the
// readers. Otherwise it calls waiting once with that message and waits
// until they are done or ctx ends.
func ExcludeReaders(ctx context.Context, p Place, what string, waiting func(string)) (*Lock, error) {
	return readers(ctx, p, syscall.LOCK_EX, what, waiting)
}

func readers(ctx context.Context, p Place, how int, what string, waiting func(string)) (*Lock, error) {
	f, err := open(p, p.readers, true)
	if err != nil {
		return nil, err
	}
	for told := false; ; told = true {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock: %s: %w", f.Name(), err)
		}
		msg := readersMessage(how, f)
		if waiting == nil {
			defer f.Close()
			if how == syscall.LOCK_EX {
				return nil, fmt.Errorf("%w (%s); this %s did not start", ErrReaders, describe(f), what)
			}
			return nil, fmt.Errorf("lock: %s; this %s did not start", msg, what)
		}
		if !told {
			waiting(fmt.Sprintf("%s waits: %s", what, msg))
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock: %s gave up waiting (%s): %w", what, msg, ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

// readersMessage says who keeps a readers' lock from being taken how.
func readersMessage(how int, f *os.File) string {
	if how == syscall.LOCK_SH {
		return "a prune is running: " + describe(f)
	}
	return "a restore or verify is reading this store: " + describe(f)
}

// Holder says who holds p's writers' lock, "" when nobody does. It takes
// no lock and creates nothing.
func Holder(p Place) (string, error) {
	f, err := open(p, p.writers, false)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	if len(holders(f)) == 0 {
		return "", nil
	}
	return describe(f), nil
}

// open opens the lock file name of p, creating it when create is set,
// refusing what is not a regular file of one link in a safe directory.
func open(p Place, name string, create bool) (*os.File, error) {
	dir, err := os.Open(p.dir)
	if err != nil {
		return nil, fmt.Errorf("lock: directory: %w", err)
	}
	defer dir.Close()
	dst, err := checkDir(dir, p.service)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(p.dir, name)
	flags := syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	if create {
		flags |= syscall.O_CREAT
	}
	fd, err := syscall.Openat(int(dir.Fd()), name, flags|syscall.O_RDWR, 0o600)
	if errors.Is(err, syscall.EACCES) { // a file of another user, readable: locks all the same
		fd, err = syscall.Openat(int(dir.Fd()), name, flags|syscall.O_RDONLY, 0)
	}
	if err != nil {
		return nil, openError(path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if err := checkFile(f, dst); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, syscall.ELOOP):
		return fmt.Errorf("lock: %s is a symbolic link: refused (a lock file is never a link; remove it)", path)
	case errors.Is(err, syscall.EISDIR):
		return fmt.Errorf("lock: %s is a directory, not a lock file: refused (remove it)", path)
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("lock: %s: %w", path, os.ErrNotExist)
	}
	return fmt.Errorf("lock: open %s: %w", path, err)
}

// checkDir refuses a lock directory others can write.
func checkDir(dir *os.File, service bool) (*syscall.Stat_t, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(dir.Fd()), &st); err != nil {
		return nil, fmt.Errorf("lock: directory %s: %w", dir.Name(), err)
	}
	euid := uint32(os.Geteuid())
	switch {
	case st.Mode&syscall.S_IFMT != syscall.S_IFDIR:
		return nil, fmt.Errorf("lock: %s is not a directory", dir.Name())
	case st.Mode&0o022 != 0:
		return nil, fmt.Errorf("lock: directory %s is writable by others (mode %04o): refused; make it writable by its owner only (chmod go-w %s)",
			dir.Name(), st.Mode&0o7777, dir.Name())
	case st.Uid != euid && st.Uid != 0 && !(euid == 0 && service):
		return nil, fmt.Errorf("lock: directory %s belongs to %s, not to %s: refused (run as %s, or give it to %s)",
			dir.Name(), userName(st.Uid), meOrRoot(), userName(st.Uid), me())
	}
	return &st, nil
}

// checkFile refuses a lock file that is not a regular file of one link
// owned by us, the directory's owner or root; it gives a file root
// created in another user's directory to that user, and makes ours 0600.
func checkFile(f *os.File, dir *syscall.Stat_t) error {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("lock: %s: %w", f.Name(), err)
	}
	euid := uint32(os.Geteuid())
	switch {
	case st.Mode&syscall.S_IFMT != syscall.S_IFREG:
		return fmt.Errorf("lock: %s is %s, not a regular file: refused (remove it)", f.Name(), kind(st.Mode))
	case st.Nlink != 1:
		return fmt.Errorf("lock: %s has %d hard links: refused (a lock file has one; remove it)", f.Name(), st.Nlink)
	case st.Uid != euid && st.Uid != dir.Uid && st.Uid != 0:
		return fmt.Errorf("lock: %s belongs to %s, not to %s or the directory's owner: refused (remove it)",
			f.Name(), userName(st.Uid), meOrRoot())
	}
	if st.Uid != euid {
		return nil
	}
	if euid == 0 && dir.Uid != 0 {
		if err := syscall.Fchown(int(f.Fd()), int(dir.Uid), int(dir.Gid)); err != nil {
			return fmt.Errorf("lock: %s: give it to the directory's owner: %w", f.Name(), err)
		}
	}
	if st.Mode&0o777 != 0o600 {
		if err := syscall.Fchmod(int(f.Fd()), 0o600); err != nil {
			return fmt.Errorf("lock: %s: %w", f.Name(), err)
		}
	}
	return nil
}

// kind names a file type for an error.
func kind(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFIFO:
		return "a named pipe"
	case syscall.S_IFSOCK:
		return "a socket"
	case syscall.S_IFCHR, syscall.S_IFBLK:
		return "a device"
	case syscall.S_IFDIR:
		return "a directory"
	}
	return "not a regular file"
}

// writeHolder records the holder in the locked file, through its
// descriptor; a read-only descriptor records nothing.
func writeHolder(f *os.File, what string) {
	line := fmt.Sprintf("pid %d: %s (since %s)\n", os.Getpid(), what, time.Now().UTC().Format(time.RFC3339))
	if syscall.Ftruncate(int(f.Fd()), 0) == nil {
		syscall.Pwrite(int(f.Fd()), []byte(line), 0)
	}
}

// describe says who holds f's lock: the line its holder wrote when that
// holder still holds it, else what /proc/locks says.
func describe(f *os.File) string {
	pids := holders(f)
	buf := make([]byte, 512)
	n, _ := syscall.Pread(int(f.Fd()), buf, 0)
	line := strings.TrimSpace(string(buf[:max(n, 0)]))
	var pid int
	if _, err := fmt.Sscanf(line, "pid %d:", &pid); err == nil {
		for _, p := range pids {
			if p == pid {
				return line
			}
		}
	}
	if len(pids) == 0 {
		return "holder unknown"
	}
	var ds []string
	for i, p := range pids {
		if !slices.Contains(pids[:i], p) {
			ds = append(ds, describePID(p))
		}
	}
	return strings.Join(ds, "; ")
}
