package sandbox

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// checkGone fails t unless the process group of p has gone and dir was
// removed.
func checkGone(t *testing.T, p *Process, dir string) {
	t.Helper()
	select {
	case <-p.Done():
	default:
		t.Errorf("%s (pid %d) still running after Stop", p.Path(), p.Pid())
	}
	if err := syscall.Kill(-p.Pid(), 0); err != syscall.ESRCH {
		t.Errorf("process group %d still there after Stop: %v", p.Pid(), err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there after Stop: %v", dir, err)
	}
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	dir, err := PrivateDir(t.TempDir(), "drill-")
	if err != nil {
		t.Fatal(err)
	}
	p, err := StartPostgres(t.Context(), dir, Binaries{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := p.Connect(t.Context(), "postgres")
	if err != nil {
		t.Fatal(err)
	}
	var listen, fsync string
	if err := conn.QueryRow(t.Context(), "SELECT current_setting('listen_addresses'), current_setting('fsync')").Scan(&listen, &fsync); err != nil {
		t.Fatal(err)
	}
	conn.Close(t.Context())
	if listen != "" || fsync != "off" {
		t.Errorf("listen_addresses %q, fsync %s", listen, fsync)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("private directory %v, %v: others may enter", fi.Mode(), err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	checkGone(t, p.proc, p.base)
}

func TestPostgresMajor(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"13", "15", "16"} {
		if err := os.MkdirAll(filepath.Join(root, v, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, v, "bin", "initdb"), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b := Binaries{PostgresRoot: root}
	for want, major := range map[int]int{0: 16, 12: 13, 14: 15, 15: 15, 16: 16} {
		if dir, got, err := b.Postgres(want); err != nil || got != major || dir != filepath.Join(root, strconv.Itoa(major), "bin") {
			t.Errorf("Postgres(%d) = %s, %d, %v; want %d", want, dir, got, err, major)
		}
	}
	if _, _, err := b.Postgres(17); err == nil || !strings.Contains(err.Error(), "postgresql-17") {
		t.Errorf("Postgres(17): %v, want a hint naming postgresql-17", err)
	}
}

// TestMissingBinaries: each server names the package that installs it.
func TestMissingBinaries(t *testing.T) {
	empty := Binaries{Dirs: []string{t.TempDir()}, PostgresRoot: t.TempDir()}
	dir := t.TempDir()
	_, err := StartPostgres(t.Context(), dir, empty, 15)
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y postgresql-15") {
		t.Errorf("postgres: %v", err)
	}
	_, err = StartMariaDB(t.Context(), dir, empty)
	if err == nil || !strings.Contains(err.Error(), "mariadb-server") {
		t.Errorf("mariadb: %v", err)
	}
	_, err = NewRedis(dir, empty)
	if err == nil || !strings.Contains(err.Error(), "redis-server") {
		t.Errorf("redis: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("%d entries left in %s", len(entries), dir)
	}
}

func TestMariaDB(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m, err := StartMariaDB(t.Context(), dir, Binaries{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.greets(t.Context()); err != nil {
		t.Error(err)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	checkGone(t, m.proc, m.base)
	if err := m.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// emptyRDB is an RDB of the given version with no key: the header, the EOF
// opcode and the CRC-64 (0: not checked).
func emptyRDB(version string) []byte {
	b := append([]byte("REDIS"+version), 0xff)
	return binary.LittleEndian.AppendUint64(b, 0)
}

func TestRedis(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r, err := NewRedis(dir, Binaries{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "x.rdb"), emptyRDB("0009"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context(), "x.rdb"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Do(t.Context(), "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	keys, err := r.Keyspace(t.Context())
	if err != nil || len(keys) != 1 || keys[0] != 1 {
		t.Errorf("Keyspace = %v, %v; want db0 with 1 key", keys, err)
	}
	if _, err := r.Do(t.Context(), "NOSUCHCOMMAND"); err == nil {
		t.Error("an error reply gave no error")
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	checkGone(t, r.proc, r.base)
}

// TestRedisRefuses: an RDB of a version Redis cannot read stops it, and
// the error quotes its log.
func TestRedisRefuses(t *testing.T) {
	t.Parallel()
	r, err := NewRedis(t.TempDir(), Binaries{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if err := os.WriteFile(filepath.Join(r.Dir, "x.rdb"), emptyRDB("0099"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = r.Start(t.Context(), "x.rdb")
	if err == nil || !strings.Contains(err.Error(), "tail of its log") || !strings.Contains(err.Error(), "RDB format version") {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	checkGone(t, r.proc, r.base)
}

// TestWaitReadyCancelled: a cancelled context ends the wait at once.
func TestWaitReadyCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := WaitReady(ctx, nil, time.Hour, func(context.Context) error { return os.ErrNotExist })
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("err = %v", err)
	}
}

// TestSocketDir checks that socket paths too long for sun_path move to a
// short directory.
func TestSocketDir(t *testing.T) {
	short := t.TempDir()
	if dir, cleanup, err := SocketDir(short); err != nil || dir != short || cleanup != "" {
		t.Errorf("SocketDir(%s) = %s, %q, %v", short, dir, cleanup, err)
	}
	long := filepath.Join(short, strings.Repeat("x", maxSocketPath))
	dir, cleanup, err := SocketDir(long)
	if err != nil || dir == long || cleanup != dir || len(dir)+len("/.s.PGSQL.65535.lock") > maxSocketPath {
		t.Errorf("SocketDir(long) = %s, %q, %v", dir, cleanup, err)
	}
	os.RemoveAll(cleanup)
}
