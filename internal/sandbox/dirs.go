package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"syscall"
)

// maxSocketPath keeps Unix socket paths within sun_path (108 bytes).
const maxSocketPath = 100

// Binaries says where server programs are looked up. The zero value looks
// in PATH, then in the sbin directories (which a non-root PATH often
// lacks), and for PostgreSQL in /usr/lib/postgresql/<major>/bin.
type Binaries struct {
	// Dirs, when set, are the only directories searched, in order.
	Dirs []string
	// PostgresRoot holds one <major>/bin directory per installed
	// PostgreSQL; "" means /usr/lib/postgresql.
	PostgresRoot string
}

// sbin are searched after PATH.
var sbin = []string{"/usr/sbin", "/usr/local/sbin", "/sbin"}

// Look returns the path of the executable name. A missing one is an error
// that ends with install, the command that installs it.
func (b Binaries) Look(name, install string) (string, error) {
	if b.Dirs == nil {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	dirs := b.Dirs
	if dirs == nil {
		dirs = sbin
	}
	for _, dir := range dirs {
		path := filepath.Join(dir, name)
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return path, nil
		}
	}
	where := "PATH or the sbin directories"
	if b.Dirs != nil {
		where = fmt.Sprint(b.Dirs)
	}
	return "", fmt.Errorf("sandbox: %s not found in %s; install it with: %s", name, where, install)
}

// PostgresInstall is the command that installs PostgreSQL major.
func PostgresInstall(major int) string {
	return fmt.Sprintf("apt-get install -y postgresql-%d", major)
}

// Postgres returns the bin directory of the installed PostgreSQL to use
// for a dump made by PostgreSQL want: want's own when installed, else the
// lowest installed major above it; with want 0, the newest installed. None
// is an error naming postgresql-<want>.
func (b Binaries) Postgres(want int) (dir string, major int, err error) {
	root := b.PostgresRoot
	if root == "" {
		root = "/usr/lib/postgresql"
	}
	found, _ := filepath.Glob(filepath.Join(root, "*", "bin", "initdb"))
	var majors []int
	for _, f := range found {
		if n, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(f)))); err == nil && n >= want {
			majors = append(majors, n)
		}
	}
	if len(majors) == 0 {
		if want == 0 {
			return "", 0, fmt.Errorf("sandbox: no PostgreSQL server in %s; install one with: apt-get install -y postgresql", root)
		}
		return "", 0, fmt.Errorf("sandbox: no PostgreSQL %d or newer in %s (the dump was made by PostgreSQL %d); install it with: %s",
			want, root, want, PostgresInstall(want))
	}
	sort.Ints(majors)
	major = majors[0]
	if want == 0 {
		major = slices.Max(majors)
	}
	return filepath.Join(root, strconv.Itoa(major), "bin"), major, nil
}

// SocketDir returns a directory for Unix sockets: want when its socket
// paths fit in sun_path, else a new short directory under os.TempDir(),
// which the caller must remove (cleanup is then non-empty).
func SocketDir(want string) (dir, cleanup string, err error) {
	if len(want)+len("/.s.PGSQL.65535.lock") <= maxSocketPath {
		return want, "", nil
	}
	dir, err = os.MkdirTemp("", "sbx-")
	if err != nil {
		return "", "", fmt.Errorf("sandbox: socket directory: %w", err)
	}
	return dir, dir, nil
}

// PostgresCredential returns the postgres OS user when this process runs
// as root, since initdb and postgres refuse root, and nil otherwise.
func PostgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("sandbox: running as root needs the postgres OS user to run PostgreSQL (installing postgresql creates it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// PrivateDir creates a new directory under parent ("" means os.TempDir())
// that only its owner may enter (0700). As root, where PostgreSQL runs as
// the postgres OS user, the directory is given to postgres's group with
// mode 0710: that group may pass through it, to the server's own
// directory, but not list it.
func PrivateDir(parent, pattern string) (string, error) {
	dir, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return "", fmt.Errorf("sandbox: private directory: %w", err)
	}
	cred, err := PostgresCredential()
	if err != nil || cred == nil {
		return dir, nil // without a postgres user, PostgreSQL fails later, saying so
	}
	if err := os.Chown(dir, -1, int(cred.Gid)); err != nil {
		os.Remove(dir)
		return "", fmt.Errorf("sandbox: private directory: %w", err)
	}
	if err := os.Chmod(dir, 0o710); err != nil {
		os.Remove(dir)
		return "", fmt.Errorf("sandbox: private directory: %w", err)
	}
	return dir, nil
}

// Traversable makes sure cred's user can pass through dir and its parents.
// One it cannot pass gets o+x when it is under os.TempDir() or $GOTMPDIR
// (where t.TempDir() makes 0700 ones); elsewhere that is an error, and
// nothing else is changed.
func Traversable(dir string, cred *syscall.Credential) error {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		if !canPass(fi, cred) {
			if !underTemp(d) {
				return fmt.Errorf("sandbox: the postgres OS user cannot enter %s; chmod o+x it or use a directory under %s", d, os.TempDir())
			}
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				return fmt.Errorf("sandbox: %w", err)
			}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// canPass reports whether cred's user may search the directory fi.
func canPass(fi os.FileInfo, cred *syscall.Credential) bool {
	perm := fi.Mode().Perm()
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case perm&0o001 != 0:
		return true
	case !ok:
		return false
	case st.Uid == cred.Uid:
		return perm&0o100 != 0
	case st.Gid == cred.Gid:
		return perm&0o010 != 0
	}
	return false
}

// underTemp reports whether path lies inside os.TempDir() or $GOTMPDIR.
func underTemp(path string) bool {
	for _, root := range []string{os.TempDir(), os.Getenv("GOTMPDIR")} {
		if root == "" {
			continue
		}
		if rel, err := filepath.Rel(filepath.Clean(root), path); err == nil && rel != "." && filepath.IsLocal(rel) {
			return true
		}
	}
	return false
}
