package testenv

import (
	"bytes"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"mbackup/internal/sandbox"
)

// TestPostgres runs two servers at once, then checks that cleanup left
// nothing running.
func TestPostgres(t *testing.T) {
	t.Parallel()
	var servers []*Postgres
	t.Run("two servers", func(t *testing.T) {
		a, b := StartPostgres(t), StartPostgres(t)
		servers = append(servers, a, b)
		if a.Port == b.Port || a.SocketDir == b.SocketDir {
			t.Fatalf("servers share port %d or socket directory %s", a.Port, a.SocketDir)
		}
		if a.Major < 10 {
			t.Errorf("Major = %d", a.Major)
		}
		a.Exec(t, "postgres", "CREATE DATABASE app")
		a.Exec(t, "app", "CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2);")
		if got := a.Query(t, "app", "SELECT count(*) FROM t"); got != "2" {
			t.Errorf("count on a = %q, want 2", got)
		}
		if got := b.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'app'"); got != "0" {
			t.Errorf("database app on b: count %q, want 0", got)
		}
		checkPostgresAuth(t, a)
		checkArgv(t, a.Password, b.Password)
	})
	for _, p := range servers {
		checkExited(t, p.proc)
		checkGone(t, p.Port, p.base)
	}
}

// checkPostgresAuth checks that TCP needs the right password and that the
// socket does not.
func checkPostgresAuth(t *testing.T, p *Postgres) {
	t.Helper()
	psql := filepath.Join(p.BinDir, "psql")
	for _, pw := range []string{"wrong", ""} {
		env := append(cleanEnv("PG"), "PGHOST=127.0.0.1", "PGPORT="+strconv.Itoa(p.Port),
			"PGUSER="+p.User, "PGPASSWORD="+pw)
		_, err := runClient(t.Context(), env, "SELECT 1", psql, "-X", "-w", "-d", "postgres", "-f", "-")
		if err == nil || !strings.Contains(err.Error(), "password") {
			t.Errorf("psql over TCP with password %q: err = %v, want a password error", pw, err)
		}
	}
	env := append(cleanEnv("PG"), "PGHOST="+p.SocketDir, "PGPORT="+strconv.Itoa(p.Port), "PGUSER="+p.User)
	if out, err := runClient(t.Context(), env, "SELECT 1", psql, "-X", "-w", "-At", "-d", "postgres", "-f", "-"); err != nil || out != "1\n" {
		t.Errorf("psql over the socket: %q, %v", out, err)
	}
	u, err := url.Parse(p.URL("app"))
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := u.User.Password(); pw != p.Password || u.Port() != strconv.Itoa(p.Port) || u.Path != "/app" {
		t.Errorf("URL = %s", u.Redacted())
	}
}

func TestMariaDB(t *testing.T) {
	t.Parallel()
	var m *MariaDB
	t.Run("server", func(t *testing.T) {
		m = StartMariaDB(t)
		m.Exec(t, "", "CREATE DATABASE app")
		m.Exec(t, "app", "CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2);")
		if got := m.Query(t, "app", "SELECT count(*) FROM t"); got != "2" {
			t.Errorf("count = %q, want 2", got)
		}
		wrong := filepath.Join(t.TempDir(), "wrong.cnf")
		cnf := strings.Replace(mustRead(t, m.DefaultsFile), m.Password, "wrong", 1)
		if err := writeSecret(wrong, cnf); err != nil {
			t.Fatal(err)
		}
		_, err := m.run(t.Context(), wrong, "", "SELECT 1")
		if err == nil || !strings.Contains(err.Error(), "Access denied") {
			t.Errorf("login with a wrong password: err = %v, want access denied", err)
		}
		if fi, err := os.Stat(m.DefaultsFile); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("defaults file: %v, %v", fi.Mode(), err)
		}
		checkArgv(t, m.Password)
	})
	checkExited(t, m.proc)
	checkGone(t, m.Port, m.base)
}

func TestRedis(t *testing.T) {
	t.Parallel()
	var r *Redis
	t.Run("server", func(t *testing.T) {
		r = StartRedis(t)
		r.Do(t, "SET", "k", "v w")
		if got := r.Do(t, "GET", "k"); got != "v w" {
			t.Errorf("GET k = %q", got)
		}
		if _, err := r.do(t.Context(), "NOSUCHCOMMAND"); err == nil {
			t.Error("an error reply gave no error")
		}
		wrong := *r
		wrong.Password = "wrong"
		if _, err := wrong.do(t.Context(), "PING"); err == nil {
			t.Error("PING with a wrong password gave no error")
		}
		if u, err := url.Parse(r.URL()); err != nil || u.Host != r.Addr {
			t.Errorf("URL: %v", err)
		}
		checkArgv(t, r.Password)
	})
	checkExited(t, r.proc)
	_, port, _ := net.SplitHostPort(r.Addr)
	n, _ := strconv.Atoi(port)
	checkGone(t, n, r.base)
}

// TestLaunchRedis exercises the TestMain form and its stop function.
func TestLaunchRedis(t *testing.T) {
	t.Parallel()
	r, stop, err := LaunchRedis(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Do(t, "PING"); got != "PONG" {
		t.Errorf("PING = %q", got)
	}
	stop()
	if _, err := r.do(t.Context(), "PING"); err == nil {
		t.Error("server answers after stop")
	}
}

// TestPortTaken checks that a server that cannot bind its port fails with
// errPortTaken (so that the launch is retried) and the tail of its log, and
// leaves nothing behind.
func TestPortTaken(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	type server struct {
		base string
		proc **process
		boot func() error
	}
	var servers []server
	if p, err := preparePostgres(dir); err == nil {
		p.Port = taken
		servers = append(servers, server{p.base, &p.proc, p.boot})
	} else {
		t.Fatal(err)
	}
	if m, err := prepareMariaDB(dir); err == nil {
		m.Port = taken
		servers = append(servers, server{m.base, &m.proc, m.boot})
	} else {
		t.Fatal(err)
	}
	if r, err := prepareRedis(dir); err == nil {
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(taken))
		servers = append(servers, server{r.base, &r.proc, r.boot})
	} else {
		t.Fatal(err)
	}
	for _, s := range servers {
		err := s.boot()
		if !errors.Is(err, errPortTaken) || !strings.Contains(err.Error(), "--- tail of ") {
			t.Errorf("boot on a taken port: err = %v, want errPortTaken and a log tail", err)
		}
		if *s.proc == nil {
			t.Errorf("%s: the server never started", s.base)
		} else {
			checkExited(t, *s.proc)
		}
		if _, err := os.Stat(s.base); !os.IsNotExist(err) {
			t.Errorf("%s still there after a failed start: %v", s.base, err)
		}
	}
}

func TestLookBinary(t *testing.T) {
	if _, err := (sandbox.Binaries{}).Look("mbackup-no-such-binary", "apt-get install -y nothing"); err == nil ||
		!strings.Contains(err.Error(), "apt-get install -y nothing") {
		t.Errorf("err = %v, want the install hint", err)
	}
	if path := LookBinary(t, "redis-server", RedisInstall); !filepath.IsAbs(path) {
		t.Errorf("path = %q", path)
	}
}

// checkArgv fails t if any process shows one of the passwords in its argv.
func checkArgv(t *testing.T, passwords ...string) {
	t.Helper()
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		argv, err := os.ReadFile(f)
		if err != nil {
			continue // the process has gone
		}
		for _, pw := range passwords {
			if bytes.Contains(argv, []byte(pw)) {
				t.Errorf("%s holds a password: %q", f, bytes.ReplaceAll(argv, []byte{0}, []byte{' '}))
			}
		}
	}
}

// checkExited fails t unless the server process has exited and nothing is
// left in its process group.
func checkExited(t *testing.T, p *process) {
	t.Helper()
	select {
	case <-p.Done():
	default:
		t.Errorf("%s (pid %d) still running after cleanup", p.Path(), p.Pid())
	}
	if err := syscall.Kill(-p.Pid(), 0); err != syscall.ESRCH {
		t.Errorf("process group %d still there after cleanup: %v", p.Pid(), err)
	}
}

// checkGone fails t unless port is free again and dir was removed.
func checkGone(t *testing.T, port int, dir string) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Errorf("port %d still in use after cleanup: %v", port, err)
	} else {
		l.Close()
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there after cleanup: %v", dir, err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
