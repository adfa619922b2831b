package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RedisInstall is the command that installs redis-server.
const RedisInstall = "apt-get install -y redis-server"

// redisLoadRate is the slowest load speed allowed for before a Redis that
// is still loading its RDB counts as hung: a tenth of what a small machine
// does.
const redisLoadRate = 4 << 20 // bytes per second

// Redis is a throwaway redis-server on the Unix socket Socket only (port
// 0), with Dir as its directory: put the RDB file there, then Start.
type Redis struct {
	Dir    string // the server's "dir"
	Socket string

	server string
	base   string
	log    string
	sock   string // a short socket directory to remove, if any
	proc   *Process

	stopper
}

// NewRedis finds redis-server and makes a new directory for the server
// under dir; nothing runs yet.
func NewRedis(dir string, bin Binaries) (*Redis, error) {
	server, err := bin.Look("redis-server", RedisInstall)
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp(dir, "redis-")
	if err != nil {
		return nil, fmt.Errorf("sandbox: redis: %w", err)
	}
	r := &Redis{Dir: filepath.Join(base, "data"), server: server, base: base, log: filepath.Join(base, "redis.log")}
	sockDir, sock, err := SocketDir(base)
	if err == nil {
		err = os.Mkdir(r.Dir, 0o700)
	}
	r.Socket, r.sock = filepath.Join(sockDir, "redis.sock"), sock
	if err != nil {
		r.Stop()
		return nil, fmt.Errorf("sandbox: redis: %w", err)
	}
	return r, nil
}

// Start runs redis-server on Dir/file, which it loads before it answers,
// and waits until it answers PING; a server that exits, or that answers
// without having logged that it loaded the file, is an error quoting the
// tail of its log (the server is then stopped, but its directory stays
// until Stop).
func (r *Redis) Start(ctx context.Context, file string) error {
	fi, err := os.Stat(filepath.Join(r.Dir, file))
	if err != nil {
		return fmt.Errorf("sandbox: redis: %w", err)
	}
	conf := filepath.Join(r.base, "redis.conf")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`port 0
unixsocket %s
unixsocketperm 700
dir %s
dbfilename %s
logfile %s
save ""
appendonly no
daemonize no
`, quoteConf(r.Socket), quoteConf(r.Dir), quoteConf(file), quoteConf(r.log))), 0o600)
	if err != nil {
		return fmt.Errorf("sandbox: redis: %w", err)
	}
	cmd := exec.Command(r.server, conf)
	cmd.Dir = r.base
	if r.proc, err = StartProcess(cmd, r.log); err != nil {
		return fmt.Errorf("sandbox: start redis: %w", err)
	}
	timeout := ReadyTimeout + time.Duration(fi.Size()/redisLoadRate)*time.Second
	err = WaitReady(ctx, r.proc.Done(), timeout, func(ctx context.Context) error {
		out, err := r.Do(ctx, "PING")
		if err == nil && out != "PONG" {
			err = fmt.Errorf("PING answered %q", out)
		}
		return err
	})
	if err == nil {
		if log, _ := os.ReadFile(r.log); !strings.Contains(string(log), "DB loaded from disk") {
			err = fmt.Errorf("it answers, but its log does not say it loaded %s", file)
		}
	}
	if err != nil {
		r.proc.Stop(syscall.SIGTERM)
		return fmt.Errorf("sandbox: redis refused %s: %w\n--- tail of its log ---\n%s", file, err, LogTail(r.log))
	}
	return nil
}

// quoteConf quotes v for redis.conf.
func quoteConf(v string) string {
	return strconv.Quote(v)
}

// Keyspace returns the number of keys of each database that holds any,
// from INFO keyspace.
func (r *Redis) Keyspace(ctx context.Context) (map[int]int64, error) {
	out, err := r.Do(ctx, "INFO", "keyspace")
	if err != nil {
		return nil, err
	}
	keys := map[int]int64{}
	for line := range strings.Lines(out) {
		name, fields, ok := strings.Cut(strings.TrimSpace(line), ":")
		db, err := strconv.Atoi(strings.TrimPrefix(name, "db"))
		if !ok || !strings.HasPrefix(name, "db") || err != nil {
			continue
		}
		for f := range strings.SplitSeq(fields, ",") {
			if v, ok := strings.CutPrefix(f, "keys="); ok {
				if keys[db], err = strconv.ParseInt(v, 10, 64); err != nil {
					return nil, fmt.Errorf("sandbox: redis: INFO keyspace: %q", line)
				}
			}
		}
	}
	return keys, nil
}

// Do sends one command over the socket and returns its reply, a simple or
// bulk string or an integer; an error reply (-LOADING while it loads) is
// an error.
func (r *Redis) Do(ctx context.Context, args ...string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", r.Socket)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var req strings.Builder
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(req.String())); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(conn))
}

// maxReply bounds a bulk reply read by Do.
const maxReply = 1 << 20

func readReply(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < -1 || n > maxReply {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n == -1 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// Stop shuts the server down without saving (SIGTERM; save points are off),
// then SIGKILL of its process group after StopTimeout, waits for it and
// removes its directory, the RDB in Dir included. It may be called more
// than once.
func (r *Redis) Stop() error {
	return r.stopper.stop("redis", r.proc, syscall.SIGTERM, r.sock, r.base)
}
