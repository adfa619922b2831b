package redisdump

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mbackup/internal/testenv"
)

// server is a Redis server a test talks to with redis-cli.
type server struct {
	addr, password string
	tls            []string // redis-cli's TLS options, if the server speaks TLS only
}

func fromTestenv(r *testenv.Redis) server { return server{addr: r.Addr, password: r.Password} }

func (s server) url() string { return "redis://" + s.addr + "/0" }

func (s server) config(name string) Config {
	return Config{Name: name, URL: s.url(), Password: s.password}
}

// do runs one command and returns its raw output without the final
// newline; an error reply fails t.
func (s server) do(t testing.TB, args ...string) string {
	t.Helper()
	out, err := s.run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (s server) run(args ...string) (string, error) {
	host, port, _ := net.SplitHostPort(s.addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := append([]string{"-h", host, "-p", port, "-e", "--raw"}, s.tls...)
	cmd := exec.CommandContext(ctx, "redis-cli", append(argv, args...)...)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+s.password)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("redis %s: %v: %s %s", args[0], err, out, stderr.String())
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}

// startServer runs a redis-server of the test's own, for what testenv's
// does not offer: a config with extra lines (renamed commands) or an RDB
// to load. If rdb is not nil it is the server's dump.rdb at startup. The
// server is killed when t ends.
func startServer(t *testing.T, extra string, rdb []byte) server {
	t.Helper()
	return startServerTLS(t, extra, rdb, nil)
}

// startServerTLS is startServer for a server that speaks TLS only, with
// the TLS options of the config extra, reached with redis-cli's options
// tls.
func startServerTLS(t *testing.T, extra string, rdb []byte, tls []string) server {
	t.Helper()
	dir := t.TempDir()
	if rdb != nil {
		if err := os.WriteFile(filepath.Join(dir, "dump.rdb"), rdb, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return startServerIn(t, dir, extra, tls)
}

// startServerIn is startServerTLS for a server whose dir, where it loads
// dump.rdb from, is dir.
func startServerIn(t *testing.T, dir, extra string, tls []string) server {
	t.Helper()
	bin := testenv.LookBinary(t, "redis-server", testenv.RedisInstall)
	s := server{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t))),
		password: "test-" + strconv.Itoa(os.Getpid()), tls: tls}
	_, port, _ := net.SplitHostPort(s.addr)
	portLine := "port " + port
	if tls != nil {
		portLine = "port 0\ntls-port " + port
	}
	conf := fmt.Sprintf("bind 127.0.0.1\n%s\nrequirepass %s\ndir %s\ndbfilename dump.rdb\nsave \"\"\n"+
		"appendonly no\nrepl-diskless-sync-delay 0\nlogfile %s\n%s\n", portLine, s.password, dir, filepath.Join(dir, "redis.log"), extra)
	confPath := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, confPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	waitPing(t, s, exited, filepath.Join(dir, "redis.log"))
	return s
}

// waitPing waits until s answers PING (a server loading an RDB answers
// LOADING until it is done).
func waitPing(t *testing.T, s server, exited <-chan error, log string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if out, err := s.run("PING"); err == nil && out == "PONG" {
			return
		}
		select {
		case err := <-exited:
			data, _ := os.ReadFile(log)
			t.Fatalf("redis-server exited: %v\n%s", err, data)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("redis-server on %s not ready", s.addr)
}

// children returns the pids of this process's children running comm.
func children(t *testing.T, comm string) []int {
	return testenv.ChildrenOf(t, os.Getpid(), comm)
}
