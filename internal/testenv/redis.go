package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"mbackup/internal/sandbox"
)

// RedisInstall is the command that installs redis-server and redis-cli.
const RedisInstall = "apt-get install -y redis-server"

// Redis is a throwaway Redis server listening on Addr (127.0.0.1 and a free
// port) that requires Password. Persistence is off (save ""), so the only
// RDB files in Dir are those a test asks for, with SAVE or BGSAVE. DEBUG is
// enabled for local connections (DEBUG DIGEST compares two servers' data),
// and a replica's full sync starts at once (repl-diskless-sync-delay 0).
type Redis struct {
	Addr     string // host:port
	Password string
	Dir      string // the server's working directory, where dump.rdb goes

	base   string   // everything of this server lives here
	log    string   // the server log
	server string   // redis-server
	cli    string   // redis-cli
	proc   *process // the running redis-server
}

// StartRedis starts a server under t.TempDir() and stops it, removing its
// data, when t ends. Prefer one LaunchRedis per package in TestMain.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	r, err := retryPort(launchRedis, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// LaunchRedis starts a server with its files in a new directory under dir
// and returns it with a function that stops it and removes those files. It
// is meant for TestMain; stop reports its failures on stderr.
func LaunchRedis(dir string) (*Redis, func(), error) {
	r, err := retryPort(launchRedis, dir)
	if err != nil {
		return nil, nil, err
	}
	return r, func() {
		if err := r.stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}, nil
}

func launchRedis(dir string) (*Redis, error) {
	r, err := prepareRedis(dir)
	if err != nil {
		return nil, err
	}
	if err := r.boot(); err != nil {
		return nil, err
	}
	return r, nil
}

// prepareRedis finds the binaries, picks a port and creates the server's
// directory.
func prepareRedis(dir string) (*Redis, error) {
	server, err := sandbox.Binaries{}.Look("redis-server", RedisInstall)
	if err != nil {
		return nil, err
	}
	cli, err := sandbox.Binaries{}.Look("redis-cli", RedisInstall)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp(dir, "redis-")
	if err != nil {
		return nil, fmt.Errorf("testenv: redis: %w", err)
	}
	return &Redis{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Password: newPassword(),
		Dir: filepath.Join(base, "data"), base: base, log: filepath.Join(base, "redis.log"),
		server: server, cli: cli}, nil
}

// boot starts the server; on failure it cleans up.
func (r *Redis) boot() error {
	err := r.start()
	if err != nil {
		if serr := r.stop(); serr != nil {
			err = fmt.Errorf("%w\n%v", err, serr)
		}
	}
	return err
}

// start writes the config file (0600: it holds requirepass), runs
// redis-server on it and waits until it answers PING.
func (r *Redis) start() error {
	_, port, err := net.SplitHostPort(r.Addr)
	if err != nil {
		return fmt.Errorf("testenv: redis: %w", err)
	}
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return fmt.Errorf("testenv: redis: %w", err)
	}
	conf := filepath.Join(r.base, "redis.conf")
	err = writeSecret(conf, fmt.Sprintf(`bind 127.0.0.1
port %s
requirepass %s
dir %s
logfile %s
save ""
appendonly no
daemonize no
enable-debug-command local
repl-diskless-sync-delay 0
`, port, r.Password, r.Dir, r.log))
	if err != nil {
		return fmt.Errorf("testenv: redis: %w", err)
	}
	cmd := exec.Command(r.server, conf)
	cmd.Dir = r.base
	if r.proc, err = sandbox.StartProcess(cmd, r.log); err != nil {
		return fmt.Errorf("testenv: start redis: %w", err)
	}
	err = waitReady(r.proc.Done(), func(ctx context.Context) error {
		out, err := r.do(ctx, "PING")
		if err == nil && out != "PONG" {
			err = fmt.Errorf("PING answered %q", out)
		}
		return err
	})
	if err != nil {
		return withLog("redis", err, r.log)
	}
	return nil
}

// Restart stops the server without saving and starts it again on the same
// port and directory, so that it loads a dump.rdb a test put into Dir.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.Stop(t)
	r.Start(t)
}

// Stop stops the server without saving, leaving Dir in place, as
// "systemctl stop redis-server" would before a restore.
func (r *Redis) Stop(t testing.TB) {
	t.Helper()
	if r.proc != nil {
		if err := r.proc.Stop(syscall.SIGTERM); err != nil {
			t.Fatalf("testenv: stop redis: %v", err)
		}
		r.proc = nil
	}
}

// Start starts a stopped server again on the same port and directory.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	os.Remove(filepath.Join(r.base, "redis.conf")) // start writes it anew
	if err := r.start(); err != nil {
		t.Fatalf("testenv: start redis: %v", err)
	}
}

// stop shuts the server down, killing it if needed, and removes its files.
func (r *Redis) stop() error {
	var errs []error
	if r.proc != nil {
		errs = append(errs, r.proc.Stop(syscall.SIGTERM))
	}
	errs = append(errs, os.RemoveAll(r.base))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("testenv: stop redis on %s: %w", r.Addr, err)
	}
	return nil
}

// URL returns redis://:Password@Addr/0.
func (r *Redis) URL() string {
	u := url.URL{Scheme: "redis", User: url.UserPassword("", r.Password), Host: r.Addr, Path: "/0"}
	return u.String()
}

// Env returns REDISCLI_AUTH for a redis-cli that should reach this server,
// to append to its environment.
func (r *Redis) Env() []string {
	return []string{"REDISCLI_AUTH=" + r.Password}
}

// Do runs one command through redis-cli, authenticated through REDISCLI_AUTH,
// and returns its raw output without the final newline. An error reply fails
// t.
func (r *Redis) Do(t testing.TB, args ...string) string {
	t.Helper()
	out, err := r.do(context.Background(), args...)
	if err != nil {
		t.Fatalf("testenv: redis %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (r *Redis) do(ctx context.Context, args ...string) (string, error) {
	host, port, _ := net.SplitHostPort(r.Addr)
	// -e: an error reply makes redis-cli exit non-zero.
	argv := append([]string{"-h", host, "-p", port, "-e", "--raw"}, args...)
	out, err := runClient(ctx, append(cleanEnv("REDISCLI_"), r.Env()...), "", r.cli, argv...)
	out = strings.TrimSuffix(out, "\n")
	if err != nil {
		return out, fmt.Errorf("%w: %s", err, out)
	}
	return out, nil
}
