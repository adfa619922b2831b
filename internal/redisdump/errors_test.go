package redisdump

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestDumpWrongPassword(t *testing.T) {
	cfg := shared.config("main")
	cfg.Password = "not-the-password-3141"
	var out bytes.Buffer
	_, err := Dump(context.Background(), cfg, &out)
	if err == nil || !strings.Contains(err.Error(), "redisdump: server version main:") ||
		!strings.Contains(err.Error(), "check the password") {
		t.Fatalf("Dump = %v", err)
	}
	if strings.Contains(err.Error(), cfg.Password) || out.Len() > 0 {
		t.Errorf("password in error %q, or %d bytes written", err, out.Len())
	}
	t.Log(err)
}

// TestDumpRefused covers the two ways a server refuses SYNC: an ACL user
// without +sync (NOPERM) and a renamed command (unknown command).
func TestDumpRefused(t *testing.T) {
	shared.do(t, "ACL", "SETUSER", "nosync", "on", ">nosync-secret-2718", "~*", "&*", "+@all", "-sync", "-psync")
	renamed := startServer(t, "rename-command SYNC \"\"\nrename-command PSYNC \"\"", nil)
	for _, c := range []struct {
		name, reply string
		cfg         Config
	}{
		{"acl", "NOPERM", Config{Name: "acl", URL: "redis://nosync@" + shared.addr, Password: "nosync-secret-2718"}},
		{"renamed", "unknown command", renamed.config("renamed")},
	} {
		var out bytes.Buffer
		_, err := Dump(context.Background(), c.cfg, &out)
		if !errors.Is(err, ErrSyncRefused) || !strings.Contains(err.Error(), "redisdump: dump "+c.name+": the server refused replication (SYNC): -") ||
			!strings.Contains(err.Error(), c.reply) || !strings.Contains(err.Error(), "+sync +psync +replconf") {
			t.Errorf("%s: Dump = %v", c.name, err)
			continue
		}
		if strings.Contains(err.Error(), c.cfg.Password) || out.Len() > 0 {
			t.Errorf("%s: password in error %q, or %d bytes written", c.name, err, out.Len())
		}
		t.Log(err)
	}
}

// killer kills the running redis-cli on its first write.
type killer struct {
	t      *testing.T
	killed bool
	n      int
}

func (k *killer) Write(p []byte) (int, error) {
	if !k.killed {
		k.killed = true
		pids := children(k.t, "redis-cli")
		if len(pids) != 1 {
			k.t.Fatalf("redis-cli children: %v", pids)
		}
		if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
			k.t.Fatal(err)
		}
	}
	k.n += len(p)
	return len(p), nil
}

func TestDumpKilled(t *testing.T) {
	s := startServer(t, "", nil)
	fillBig(t, s, "0")
	k := &killer{t: t}
	_, err := Dump(context.Background(), s.config("main"), k)
	if err == nil || !strings.Contains(err.Error(), "redisdump: dump main: redis-cli: signal: killed") {
		t.Fatalf("Dump = %v", err)
	}
	t.Logf("%v after %d bytes", err, k.n)
}

func TestDumpCancelled(t *testing.T) {
	s := startServer(t, "", nil)
	fillBig(t, s, "0")
	ctx, cancel := context.WithCancel(context.Background())
	var n int
	w := writerFunc(func(p []byte) (int, error) {
		cancel()
		n += len(p)
		return len(p), nil
	})
	_, err := Dump(ctx, s.config("main"), w)
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("Dump = %v", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestDumpUnreachable(t *testing.T) {
	_, err := Dump(context.Background(), Config{Name: "gone", URL: "redis://127.0.0.1:1/0", Password: "pw-1618"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "redisdump: server version gone:") || strings.Contains(err.Error(), "pw-1618") {
		t.Fatalf("Dump = %v", err)
	}
	t.Log(err)
}

func TestDumpMissingCLI(t *testing.T) {
	_, err := Dump(context.Background(), Config{URL: "redis://127.0.0.1/0", CLI: "/nonexistent/redis-cli"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y redis-tools") {
		t.Fatalf("Dump = %v", err)
	}
}

// TestDumpExitZeroWithoutRDB runs a stand-in for a redis-cli that exits 0
// although the server sent no RDB, or only part of one: the exit status
// alone must not make a dump good.
func TestDumpExitZeroWithoutRDB(t *testing.T) {
	dir := t.TempDir()
	part := filepath.Join(dir, "part.rdb")
	if err := os.WriteFile(part, rdbFile(100_000, true)[:70_000], 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, rdb, want string }{
		{"empty", "true", "the server refused replication (SYNC), probably: redis-cli produced no RDB"},
		{"error text", "echo '-NOPERM no sync for you'", `the stream starts with "-NOPERM n"`},
		{"truncated", "cat " + part, "the RDB stream of 70000 bytes is truncated or corrupt"},
	}
	for _, c := range cases {
		cli := filepath.Join(dir, c.name+".sh")
		script := "#!/bin/sh\ncase \"$*\" in\n*--version*) echo 'redis-cli 7.0.15' ;;\n" +
			"*INFO*) printf 'redis_version:7.0.15\\r\\n' ;;\n*--rdb*) " + c.rdb + " ;;\nesac\nexit 0\n"
		if err := os.WriteFile(cli, []byte(script), 0o700); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		_, err := Dump(context.Background(), Config{Name: c.name, URL: "redis://127.0.0.1:1", CLI: cli}, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Dump = %v; want %q", c.name, err, c.want)
		}
		if c.name != "truncated" && out.Len() > 0 {
			t.Errorf("%s: %d bytes written", c.name, out.Len())
		}
	}
}
