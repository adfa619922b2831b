package lock

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobody is the uid of the other user of these tests.
const nobody = 65534

// localPlace is the place of a local store in a fresh directory.
func localPlace(t *testing.T) Place {
	t.Helper()
	p, err := InDir(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAcquireExcludes(t *testing.T) {
	p := localPlace(t)
	l, err := Acquire(p, "mbackup daemon: backup")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(p, "mbackup backup")
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "mbackup daemon: backup") || !strings.Contains(err.Error(), "this mbackup backup did not start") {
		t.Fatalf("second Acquire: %v", err)
	}
	t.Log(err)
	if fi, err := os.Stat(p.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the lock file: %v, mode %v; want 0600", err, fi.Mode())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(p, "mbackup backup")
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
	if _, err := os.Stat(p.Path()); err != nil {
		t.Errorf("the lock file was removed: %v", err)
	}
}

// holdWithFlock runs flock(1) on path (relative to dir) as uid until the
// test ends, and waits until it holds the lock.
func holdWithFlock(t *testing.T, dir, name string, uid int, mode string) {
	t.Helper()
	args := []string{"flock", mode, "-n", name, "sleep", "600"}
	if uid != 0 {
		id := strconv.Itoa(uid)
		args = append([]string{"setpriv", "--reuid=" + id, "--regid=" + id, "--clear-groups"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir // entered as root: the uid needs no way through the parents
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &strings.Builder{}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s (util-linux: apt-get install util-linux): %v", args[0], err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	f, err := os.Open(filepath.Join(dir, name))
	for i := 0; i < 1000 && err != nil; i++ { // until flock(1) has created it
		time.Sleep(10 * time.Millisecond)
		f, err = os.Open(filepath.Join(dir, name))
	}
	if err != nil {
		t.Fatalf("flock(1) never created %s: %v (%s)", name, err, out)
	}
	defer f.Close()
	for i := 0; i < 1000; i++ {
		if len(holders(f)) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("flock(1) never took the lock: %s", out)
}

// TestKilledHolderReleases: a holder killed with SIGKILL leaves no stale lock.
func TestKilledHolderReleases(t *testing.T) {
	p := localPlace(t)
	cmd := exec.Command("flock", "--close", p.Path(), "sleep", "60") // only flock(1) itself holds it
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal("flock(1), from util-linux:", err)
	}
	busy := false
	for i := 0; i < 500 && !busy; i++ { // until flock(1) has locked
		l, err := Acquire(p, "probe")
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
		if l, err = Acquire(p, "after the kill"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	l.Release()
}

// TestAliasesShareTheLock: every spelling of a local store's directory
// (trailing slash, dot segments, a symlink to it) is one lock.
func TestAliasesShareTheLock(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "store")
	os.MkdirAll(filepath.Join(dir, "sub"), 0o700)
	os.Symlink(dir, filepath.Join(root, "link"))
	p, err := InDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(p, "mbackup backup")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	for _, alias := range []string{dir + "/", dir + "/sub/..", dir + "/./", filepath.Join(root, "link"), filepath.Join(root, "link") + "/"} {
		q, err := InDir(alias)
		if err != nil {
			t.Fatal(err)
		}
		if q.Path() != p.Path() {
			t.Errorf("%s locks %s, not %s", alias, q.Path(), p.Path())
		}
		if _, err := Acquire(q, "mbackup prune"); !errors.Is(err, ErrBusy) {
			t.Errorf("Acquire through %s while the store is locked: %v", alias, err)
		}
	}
	if q, _ := InDir(filepath.Join(root, "other")); q.Path() == p.Path() {
		t.Error("another directory shares the lock")
	}
}

// setRunDir points RunDir at dir for the test, and unsets DirEnv and
// $XDG_RUNTIME_DIR.
func setRunDir(t *testing.T, dir string) {
	t.Helper()
	old := RunDir
	RunDir = dir
	t.Cleanup(func() { RunDir = old })
	t.Setenv(DirEnv, "")
	t.Setenv("XDG_RUNTIME_DIR", "")
}

// TestForKeyPlaces: $MBACKUP_LOCK_DIR, else RunDir (created by root), else
// $XDG_RUNTIME_DIR, else a clear error.
func TestForKeyPlaces(t *testing.T) {
	base := t.TempDir()
	run := filepath.Join(base, "run-mbackup")
	setRunDir(t, run)
	p, err := ForKey("b2|x|bucket|a")
	if err != nil || filepath.Dir(p.Path()) != run {
		t.Fatalf("ForKey without %s: %v, %s", run, err, p.Path())
	}
	if fi, err := os.Stat(run); err != nil || fi.Mode().Perm() != 0o755&^umask() {
		t.Errorf("RunDir made by root: %v %v", err, fi.Mode())
	}
	if q, _ := ForKey("b2|x|bucket|b"); q.Path() == p.Path() || filepath.Base(q.Path()) == filepath.Base(p.Path()) {
		t.Error("two stores share a lock file")
	}
	if q, _ := ForKey("b2|x|bucket|a"); q.Path() != p.Path() {
		t.Error("ForKey is not stable")
	}
	xdg := filepath.Join(base, "xdg")
	os.Mkdir(xdg, 0o700)
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	RunDir = filepath.Join(base, "missing", "mbackup") // cannot be made: its parent is missing
	if p, err = ForKey("k"); err != nil || filepath.Dir(p.Path()) != xdg {
		t.Errorf("ForKey with $XDG_RUNTIME_DIR: %v, %s", err, p.Path())
	}
	env := filepath.Join(base, "env")
	os.Mkdir(env, 0o700)
	t.Setenv(DirEnv, env)
	if p, err = ForKey("k"); err != nil || filepath.Dir(p.Path()) != env {
		t.Errorf("ForKey with $%s: %v, %s", DirEnv, err, p.Path())
	}
	t.Setenv(DirEnv, "relative/dir")
	if _, err = ForKey("k"); err == nil || !strings.Contains(err.Error(), "not an absolute path") {
		t.Errorf("a relative $%s: %v", DirEnv, err)
	}
	t.Setenv(DirEnv, "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	_, err = ForKey("k")
	if err == nil || !strings.Contains(err.Error(), "install -d -m 0755") || !strings.Contains(err.Error(), DirEnv) {
		t.Errorf("ForKey with no usable directory: %v", err)
	}
	t.Log(err)
}

func umask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}

// precious is a root-owned file an attacker would like overwritten.
func precious(t *testing.T) (path string, check func()) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "precious")
	os.WriteFile(path, []byte("root's data\n"), 0o644)
	os.Chmod(path, 0o644)
	return path, func() {
		t.Helper()
		b, _ := os.ReadFile(path)
		fi, err := os.Stat(path)
		if err != nil || string(b) != "root's data\n" || fi.Mode().Perm() != 0o644 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
			t.Errorf("the symlink's target changed: %q, %v, %v", b, fi.Mode(), err)
		}
	}
}

// candidates are the places a lock can be: a local store's directory,
// $MBACKUP_LOCK_DIR, RunDir, $XDG_RUNTIME_DIR.
func candidates(t *testing.T) map[string]func() Place {
	base := t.TempDir()
	mk := func(name string) string {
		d := filepath.Join(base, name)
		os.Mkdir(d, 0o700)
		return d
	}
	forKey := func() Place {
		p, err := ForKey("b2|https://api.backblazeb2.com|bucket|")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return map[string]func() Place{
		"local store": func() Place { return localPlaceIn(t, mk("store")) },
		"env dir": func() Place {
			setRunDir(t, filepath.Join(base, "unused"))
			t.Setenv(DirEnv, mk("env"))
			return forKey()
		},
		"run dir": func() Place { setRunDir(t, mk("run")); return forKey() },
		"xdg dir": func() Place {
			setRunDir(t, filepath.Join(base, "missing", "run"))
			t.Setenv("XDG_RUNTIME_DIR", mk("xdg"))
			return forKey()
		},
	}
}

func localPlaceIn(t *testing.T, dir string) Place {
	p, err := InDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPlantedSymlinkRefused: a symlink planted at a lock file's name, at
// every place a lock can be, is refused; its target is never written.
func TestPlantedSymlinkRefused(t *testing.T) {
	for name, place := range candidates(t) {
		t.Run(name, func(t *testing.T) {
			p := place()
			target, check := precious(t)
			os.Symlink(target, p.Path())
			os.Symlink(filepath.Join(filepath.Dir(target), "new-file"), p.ReadersPath()) // dangling
			ctx := context.Background()
			_, err1 := Acquire(p, "mbackup backup")
			_, err2 := Share(ctx, p, "mbackup restore", nil)
			_, err3 := ExcludeReaders(ctx, p, "mbackup prune", nil)
			_, err4 := Holder(p)
			for _, err := range []error{err1, err2, err3, err4} {
				if err == nil || !strings.Contains(err.Error(), "is a symbolic link: refused") {
					t.Errorf("through a planted symlink: %v", err)
				}
			}
			t.Log(err1)
			check()
			if _, err := os.Lstat(filepath.Join(filepath.Dir(target), "new-file")); err == nil {
				t.Error("a file was created through the dangling symlink")
			}
		})
	}
}

// TestNotARegularFileRefused: a FIFO, a directory or a hard link at the
// lock file's name is refused at once, naming it.
func TestNotARegularFileRefused(t *testing.T) {
	p := localPlace(t)
	if err := syscall.Mkfifo(p.Path(), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := Acquire(p, "mbackup backup")
	if err == nil || !strings.Contains(err.Error(), p.Path()+" is a named pipe, not a regular file: refused") {
		t.Errorf("a FIFO: %v", err)
	}
	t.Logf("%v (in %v)", err, time.Since(start))
	os.Mkdir(p.ReadersPath(), 0o700)
	_, err = Share(context.Background(), p, "mbackup restore", nil)
	if err == nil || !strings.Contains(err.Error(), p.ReadersPath()+" is a directory, not a lock file") {
		t.Errorf("a directory: %v", err)
	}
	t.Log(err)

	q := localPlace(t)
	target, check := precious(t)
	if err := os.Link(target, q.Path()); err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(q, "mbackup backup")
	if err == nil || !strings.Contains(err.Error(), "has 2 hard links: refused") {
		t.Errorf("a hard link: %v", err)
	}
	t.Log(err)
	check()
}

// TestUnsafeDirRefused: a lock directory others can write, or owned by
// another user (outside the service places), is refused.
func TestUnsafeDirRefused(t *testing.T) {
	for _, mode := range []os.FileMode{0o777, 0o770, 0o1777, 0o720} {
		p := localPlace(t)
		os.Chmod(filepath.Dir(p.Path()), mode)
		_, err := Acquire(p, "mbackup backup")
		if err == nil || !strings.Contains(err.Error(), "is writable by others") || !strings.Contains(err.Error(), "chmod go-w") {
			t.Errorf("a %04o directory: %v", mode, err)
		}
		if _, err := os.Lstat(p.Path()); err == nil {
			t.Errorf("a lock file was made in a %04o directory", mode)
		}
	}
	env := filepath.Join(t.TempDir(), "env")
	os.Mkdir(env, 0o700)
	os.Chown(env, nobody, nobody)
	setRunDir(t, filepath.Join(t.TempDir(), "unused"))
	t.Setenv(DirEnv, env)
	p, _ := ForKey("k")
	_, err := Acquire(p, "mbackup backup")
	if err == nil || !strings.Contains(err.Error(), "belongs to nobody, not to root: refused") {
		t.Errorf("$%s owned by nobody: %v", DirEnv, err)
	}
	t.Log(err)
}

// TestServiceDirOfAnotherUser: root shares the service user's directory
// (a local store or /run/mbackup owned by it): it makes its lock files
// that user's, who can then lock them, and who is named as the holder.
func TestServiceDirOfAnotherUser(t *testing.T) {
	base := t.TempDir()
	os.Chmod(base, 0o755)
	dir := filepath.Join(base, "store")
	os.Mkdir(dir, 0o700)
	os.Chown(dir, nobody, nobody)
	p := localPlaceIn(t, dir)
	l, err := Acquire(p, "mbackup backup")
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	fi, err := os.Stat(p.Path())
	if err != nil || fi.Sys().(*syscall.Stat_t).Uid != nobody || fi.Mode().Perm() != 0o600 {
		t.Fatalf("root's lock file in nobody's directory: %v %v", err, fi)
	}
	holdWithFlock(t, dir, filepath.Base(p.Path()), nobody, "-x")
	_, err = Acquire(p, "mbackup backup")
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "user nobody") || !strings.Contains(err.Error(), "flock -x -n .mbackup-lock") {
		t.Errorf("Acquire while nobody holds it: %v", err)
	}
	t.Log(err)
	if h, err := Holder(p); err != nil || !strings.Contains(h, "user nobody") {
		t.Errorf("Holder: %q, %v", h, err)
	}
}

// TestHolderTakesNoLock: Holder creates nothing and never makes a writer
// fail; it names a holder when there is one.
func TestHolderTakesNoLock(t *testing.T) {
	p := localPlace(t)
	if h, err := Holder(p); h != "" || err != nil {
		t.Errorf("Holder of a store never locked: %q, %v", h, err)
	}
	if _, err := os.Lstat(p.Path()); err == nil {
		t.Error("Holder created the lock file")
	}
	l, err := Acquire(p, "mbackup daemon: backup")
	if err != nil {
		t.Fatal(err)
	}
	if h, err := Holder(p); err != nil || !strings.Contains(h, "mbackup daemon: backup") {
		t.Errorf("Holder while held: %q, %v", h, err)
	}
	l.Release()
	if h, err := Holder(p); h != "" || err != nil {
		t.Errorf("Holder after the release (a stale line in the file): %q, %v", h, err)
	}
}

// TestReadersKeepPruneOut: restores share the readers' lock, a backup
// runs beside them, prune does not: without waiting it is refused naming
// them, waiting it waits until they are done or its context ends; a
// restore waits for a running prune.
func TestReadersKeepPruneOut(t *testing.T) {
	ctx := context.Background()
	p := localPlace(t)
	r1, err := Share(ctx, p, "mbackup restore", nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Share(ctx, p, "mbackup verify", nil)
	if err != nil {
		t.Fatalf("a second reader: %v", err)
	}
	w, err := Acquire(p, "mbackup backup")
	if err != nil {
		t.Fatalf("a backup beside the readers: %v", err)
	}
	w.Release()
	_, err = ExcludeReaders(ctx, p, "mbackup daemon: prune", nil)
	if !errors.Is(err, ErrReaders) || !strings.Contains(err.Error(), "a restore or verify is reading this store (pid ") {
		t.Errorf("prune beside readers, not waiting: %v", err)
	}
	t.Log(err)
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var told []string
	start := time.Now()
	_, err = ExcludeReaders(short, p, "mbackup prune", func(m string) { told = append(told, m) })
	if !errors.Is(err, context.DeadlineExceeded) || len(told) != 1 || !strings.Contains(told[0], "mbackup prune waits: a restore or verify") {
		t.Errorf("prune waiting for readers: %v; told %q", err, told)
	}
	t.Logf("gave up after %v: %v", time.Since(start), err)
	r1.Release()
	got := make(chan error, 1)
	go func() {
		l, err := ExcludeReaders(ctx, p, "mbackup prune", func(string) {})
		if err == nil {
			defer l.Release()
			_, err = Share(ctx, p, "mbackup restore", nil) // prune holds it
			if err == nil || !strings.Contains(err.Error(), "a prune is running") {
				err = errors.New("a restore started during the prune: " + errString(err))
			} else {
				err = nil
			}
		}
		got <- err
	}()
	time.Sleep(3 * pollEvery)
	select {
	case err := <-got:
		t.Fatalf("prune did not wait for the last reader: %v", err)
	default:
	}
	r2.Release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// TestOldLockFileMadePrivate: a 0644 lock file of an older mbackup, which
// anyone could lock, is made 0600 by the next run.
func TestOldLockFileMadePrivate(t *testing.T) {
	p := localPlace(t)
	os.WriteFile(p.Path(), []byte("pid 1: mbackup backup\n"), 0o644)
	os.Chmod(p.Path(), 0o644)
	l, err := Acquire(p, "mbackup backup")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	fi, _ := os.Stat(p.Path())
	b, _ := os.ReadFile(p.Path())
	if fi.Mode().Perm() != 0o600 || !strings.HasPrefix(string(b), "pid "+strconv.Itoa(os.Getpid())+": mbackup backup (since ") {
		t.Errorf("the old lock file: mode %v, %q", fi.Mode(), b)
	}
}
