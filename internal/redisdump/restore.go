package redisdump

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// serverNames are the process names (/proc/<pid>/comm) of servers that
// load and write RDB files.
var serverNames = map[string]bool{"redis-server": true, "valkey-server": true}

// stopStartHint tells how to restore into the directory of a running server.
const stopStartHint = "stop it first (systemctl stop redis-server), restore, then start it again " +
	"(systemctl start redis-server): a running server ignores the file and overwrites it on its next save or at shutdown"

// aofHint explains why appendonly files block a restore.
const aofHint = "a Redis with appendonly yes loads its appendonly files, never the RDB, and without any it starts empty " +
	"and overwrites the RDB at shutdown (Redis 7.0.15 does): move the appendonly files (appendonlydir, *.aof) out of the directory, " +
	"start Redis with appendonly no so that it loads the RDB, then run CONFIG SET appendonly yes to write a new AOF from the loaded data"

// RestoreRDBFile writes the RDB file read from r (as Dump writes it) into
// the Redis data directory dataDir as fileName ("" means dump.rdb, Redis's
// default dbfilename), for a Redis server started afterwards to load. It is
// the only restore mode: loading into a running server (RESTORE commands,
// replication) is not supported.
//
// It refuses while a redis-server (or valkey-server) process runs in
// dataDir: Redis chdirs into its "dir", so a server whose /proc/<pid>/cwd
// is dataDir uses it. A server process whose directory cannot be read
// (another user's, when not run as root) is refused too, since it may be
// the one. Servers in other mount namespaces (containers) are not seen:
// stop them first. It also refuses when dataDir holds appendonly files
// (appendonlydir, *.aof), which Redis would load instead. It cannot see
// the server's config: a Redis started with appendonly yes ignores the RDB
// even without appendonly files (it starts empty, and writes an empty RDB
// at shutdown); start it with appendonly no, then CONFIG SET appendonly
// yes.
//
// The file is written atomically: to a temporary file in dataDir (0600,
// owned by dataDir's owner and group when run as root, so that the redis
// user can read it), checked to be one whole RDB (magic, EOF opcode,
// CRC-64), fsynced, renamed over fileName, and the directory fsynced. On
// any error the temporary file is removed and an existing fileName is left
// as it was.
func RestoreRDBFile(r io.Reader, dataDir string, fileName string) error {
	if fileName == "" {
		fileName = "dump.rdb"
	}
	if fileName != filepath.Base(fileName) || fileName == "." || fileName == ".." {
		return fmt.Errorf("redisdump: restore RDB into %s: file name %q must be a plain file name", dataDir, fileName)
	}
	errorf := func(err error) error { return fmt.Errorf("redisdump: restore RDB into %s: %w", dataDir, err) }
	dir, err := checkDataDir(dataDir)
	if err != nil {
		return errorf(err)
	}
	tmp, err := writeTemp(r, dir, fileName)
	if err != nil {
		return errorf(err)
	}
	defer os.Remove(tmp)                  // after a successful rename there is nothing to remove
	if err := serverIn(dir); err != nil { // one may have started meanwhile
		return errorf(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, fileName)); err != nil {
		return errorf(err)
	}
	if err := syncDir(dir); err != nil {
		return errorf(err)
	}
	return nil
}

// CheckDataDir fails when RestoreRDBFile into dataDir would be refused for
// what the directory is or holds (missing, not writable, a server running
// in it, appendonly files), and writes nothing: a restore checks this
// before its first step.
func CheckDataDir(dataDir string) error {
	if _, err := checkDataDir(dataDir); err != nil {
		return fmt.Errorf("redisdump: check %s: %w", dataDir, err)
	}
	return nil
}

// checkDataDir resolves dataDir and checks that it is a directory this
// process may write in, that no server uses it and that it holds no
// appendonly files.
func checkDataDir(dataDir string) (string, error) {
	dir, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		return "", fmt.Errorf("%w: give the data directory of the Redis server (\"dir\" in redis.conf), which must exist", err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return "", err
	} else if !fi.IsDir() {
		return "", errors.New("not a directory")
	}
	// access(2), not a test file: the check writes nothing. It sees
	// permissions, a read-only mount and an immutable directory.
	if err := syscall.Access(dir, writable); err != nil {
		return "", fmt.Errorf("the directory is not writable (%w): restore as root or as its owner (redis), "+
			"or make it writable (a read-only mount, chattr +i)", err)
	}
	if err := serverIn(dir); err != nil {
		return "", err
	}
	aof, _ := filepath.Glob(filepath.Join(dir, "*.aof"))
	if _, err := os.Stat(filepath.Join(dir, "appendonlydir")); err == nil {
		aof = append(aof, filepath.Join(dir, "appendonlydir"))
	}
	if len(aof) > 0 {
		return "", fmt.Errorf("the directory holds appendonly files (%s): %s", strings.Join(aof, ", "), aofHint)
	}
	return dir, nil
}

// writable is access(2)'s W_OK.
const writable = 0x2

// serverIn fails when a Redis server process runs in dir, or may.
func serverIn(dir string) error {
	comms, err := filepath.Glob("/proc/[0-9]*/comm")
	if err != nil {
		return err
	}
	for _, comm := range comms {
		name, err := os.ReadFile(comm)
		if err != nil || !serverNames[strings.TrimSpace(string(name))] {
			continue // gone, or not a server
		}
		pid := filepath.Base(filepath.Dir(comm))
		cwd, err := os.Readlink(filepath.Join("/proc", pid, "cwd"))
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue // exited meanwhile
		case err != nil:
			return fmt.Errorf("%s (pid %s) runs and its directory cannot be read (%v), so it may be using this one: run as root, or %s",
				strings.TrimSpace(string(name)), pid, err, stopStartHint)
		case cwd == dir:
			return fmt.Errorf("%s (pid %s) is running in this directory: %s. %s",
				strings.TrimSpace(string(name)), pid, stopStartHint, "Mind appendonly: "+aofHint)
		}
	}
	return nil
}

// writeTemp copies r into a new temporary file in dir while checking that
// it is one whole RDB, syncs it and returns its path; on error it removes
// it.
func writeTemp(r io.Reader, dir, fileName string) (path string, err error) {
	f, err := os.CreateTemp(dir, "."+fileName+".restore-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := ownLikeDir(f, dir); err != nil {
		return "", err
	}
	s := &rdbStream{w: f}
	if _, err := io.Copy(s, r); err != nil {
		return "", fmt.Errorf("write the RDB: %w", err)
	}
	if err := s.finish(); err != nil {
		return "", fmt.Errorf("write the RDB: %w", err)
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// ownLikeDir makes f 0600 and, when run as root, owned by dir's owner and
// group (redis:redis in /var/lib/redis).
func ownLikeDir(f *os.File, dir string) error {
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("give the file to uid %s: %w", strconv.Itoa(int(st.Uid)), err)
	}
	return nil
}

// syncDir fsyncs a directory, so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
