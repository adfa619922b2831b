// Package redisdump snapshots a Redis server as an RDB file, streamed by
// redis-cli --rdb - (which asks the server for a replication SYNC), so that
// nothing is staged on the backup host.
//
// Invariants:
//   - The password reaches redis-cli through REDISCLI_AUTH, never argv; an
//     inherited REDISCLI_AUTH is dropped. URLs are never passed to
//     redis-cli, so a password left in one cannot reach argv either.
//   - A dump succeeds only if redis-cli exited 0 and its output is one whole
//     RDB file: it starts with the "REDIS" magic and a four-digit version
//     (nothing reaches the destination before that is checked) and ends with
//     the EOF opcode and a matching CRC-64 (when the server writes one;
//     rdbchecksum no writes zero). redis-cli 7.0 leaves the 40-byte EOF mark
//     of a diskless transfer at the end of stdout; it is dropped, so the
//     artifact is exactly the server's RDB file.
//   - A server that refuses SYNC (a user without +sync/+psync, a renamed
//     SYNC, managed Redis) fails the dump with an error saying so and what
//     to configure instead.
//   - The RDB holds every database of the server; the database number in
//     the URL is only checked for syntax.
//   - Info.Keyspace is counted from the bytes written to the artifact (see
//     Count), never from the live server. A counting error never fails the
//     dump: Info.Notes says why the counts are missing.
//
// What the server does for a dump: it forks to write the RDB (memory grows
// by the pages written meanwhile, copy-on-write), and with diskless
// replication (the default since Redis 7) it first waits
// repl-diskless-sync-delay seconds (default 5) for other replicas to join.
// The least an ACL user needs is "-@all +info +sync +psync +replconf" (no
// key patterns). Without replconf, redis-cli cannot announce "capa eof" and
// "rdb-only": the dump still works, but the server writes its RDB to its
// own disk first and keeps streaming commands after it. A dump is bounded
// in time only by ctx.
//
// Restore is RestoreRDBFile only: the RDB is written, atomically and
// checked whole, into the data directory of a stopped server, which loads
// it when started. It refuses a directory this process may not write in
// (access(2): permissions, a read-only mount, an immutable directory),
// and refuses while a redis-server runs in that directory (found through
// /proc/<pid>/cwd, since Redis chdirs into its dir) or while appendonly
// files are there; CheckDataDir checks the same without writing. Loading
// into a running server is not supported.
//
// Config.URL is redis://[user@]host[:port][/db], rediss://... for TLS
// (redis-cli --tls), or unix:///path/to/redis.sock. A rediss:// URL may carry
// the query parameters cacert=/path/ca.pem (redis-cli --cacert; the system
// roots otherwise) and sni=name (--sni; default: the URL's host when it is
// a name, not an IP address). Other query parameters are refused.
package redisdump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"mbackup/internal/dump"
)

// Config says how to reach one Redis server. The CLI builds it from a
// config.Redis entry (Name, URL, Password.Reveal()).
type Config struct {
	Name     string // label in errors, such as "main"
	URL      string // see the package comment
	Password string // "" means no AUTH; a password in URL is used when this is ""
	// CLI is the redis-cli to run; "" means redis-cli from PATH.
	CLI string
}

// Dump streams an RDB snapshot of the server to w with redis-cli --rdb -
// and returns its Info: the command, redis-cli's version, the server's
// redis_version and the keys of each database in the RDB. It fails, writing nothing, when the server cannot be
// reached or authenticated or refuses SYNC; any error after bytes were
// written means the artifact must be discarded.
func Dump(ctx context.Context, cfg Config, w io.Writer) (dump.Info, error) {
	var info dump.Info
	c, err := newClient(cfg)
	if err != nil {
		return info, err
	}
	if info.Version, err = dump.Output(ctx, exec.CommandContext(ctx, c.cli, "--version")); err != nil {
		return info, c.errorf("redis-cli version", err)
	}
	if info.ServerVersion, err = c.serverVersion(ctx); err != nil {
		return info, err
	}
	cmd := c.command(ctx, "--rdb", "-")
	info.Command = strings.Join(cmd.Args, " ")
	keys := newKeyCounter()
	s := &rdbStream{w: io.MultiWriter(w, keys)}
	err = dump.Run(ctx, cmd, s, c.password)
	if err == nil {
		err = s.finish()
	}
	counts, countErr := keys.close()
	if err != nil {
		return info, c.errorf("dump", refused(err))
	}
	if countErr != nil {
		info.Notes = append(info.Notes, "Redis key counts not recorded: "+countErr.Error())
	} else {
		info.Keyspace = counts.Keyspace()
	}
	return info, nil
}

// ServerVersion returns the server's redis_version from INFO server,
// authenticating as Dump does: a cheap check that the server is reachable
// and the credentials work.
func ServerVersion(ctx context.Context, cfg Config) (string, error) {
	c, err := newClient(cfg)
	if err != nil {
		return "", err
	}
	return c.serverVersion(ctx)
}

// client is a resolved Config.
type client struct {
	name     string
	cli      string
	conn     []string // redis-cli connection options
	password string
}

func newClient(cfg Config) (*client, error) {
	c := &client{name: cfg.Name, cli: cfg.CLI, password: cfg.Password}
	if c.name == "" {
		c.name = "redis"
	}
	if c.cli == "" {
		c.cli = "redis-cli"
	}
	conn, urlPassword, err := connArgs(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("redisdump: %s: %w", c.name, err)
	}
	c.conn = conn
	if c.password == "" {
		c.password = urlPassword
	}
	if _, err := exec.LookPath(c.cli); err != nil {
		return nil, fmt.Errorf("redisdump: %s: %s %w in PATH; install it with: apt-get install -y redis-tools",
			c.name, c.cli, dump.ErrNotFound)
	}
	return c, nil
}

// command returns redis-cli with the connection options, then args, and an
// environment holding the password in REDISCLI_AUTH.
func (c *client) command(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(append([]string{}, c.conn...), args...)
	cmd := exec.CommandContext(ctx, c.cli, argv...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REDISCLI_AUTH=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if c.password != "" {
		cmd.Env = append(cmd.Env, "REDISCLI_AUTH="+c.password)
	}
	return cmd
}

// serverVersion runs INFO server; -e makes an error reply (NOAUTH, say)
// exit non-zero, which redis-cli otherwise does not.
func (c *client) serverVersion(ctx context.Context) (string, error) {
	out, err := dump.Output(ctx, c.command(ctx, "-e", "--raw", "INFO", "server"))
	if err != nil {
		return "", c.errorf("server version", authHint(err))
	}
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v, nil
		}
	}
	return "", c.errorf("server version", errors.New("INFO server has no redis_version"))
}

// errorf makes "redisdump: <op> <name>: <cause>" with every secret redacted.
func (c *client) errorf(op string, err error) error {
	msg := dump.Redact(err.Error(), c.password)
	if msg == err.Error() {
		return fmt.Errorf("redisdump: %s %s: %w", op, c.name, err)
	}
	return fmt.Errorf("redisdump: %s %s: %s", op, c.name, msg)
}

// connArgs turns a URL into redis-cli options, and returns the password
// the URL holds, if any.
func connArgs(raw string) (args []string, password string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", errors.New("url: not a valid URL") // never quote it: it may hold a password
	}
	if u.User != nil {
		password, _ = u.User.Password()
		if name := u.User.Username(); name != "" {
			args = append(args, "--user", name)
		}
	}
	switch u.Scheme {
	case "unix":
		if u.Path == "" {
			return nil, "", errors.New("url: unix:// needs a socket path")
		}
		args = append(args, "-s", u.Path)
	case "redis", "rediss":
		host, port := u.Hostname(), u.Port()
		if host == "" {
			return nil, "", fmt.Errorf("url: %s:// needs a host", u.Scheme)
		}
		if port == "" {
			port = "6379"
		}
		if db := strings.Trim(u.Path, "/"); db != "" {
			if _, err := strconv.ParseUint(db, 10, 16); err != nil {
				return nil, "", errors.New("url: the path must be a database number, like /0")
			}
		}
		args = append(args, "-h", host, "-p", port)
	default:
		return nil, "", errors.New("url: scheme must be redis, rediss or unix")
	}
	tls, err := tlsArgs(u)
	if err != nil {
		return nil, "", err
	}
	return append(args, tls...), password, nil
}

// tlsArgs returns --tls and its options for a rediss:// URL.
func tlsArgs(u *url.URL) ([]string, error) {
	q := u.Query()
	if u.Scheme != "rediss" {
		if len(q) > 0 {
			return nil, errors.New("url: query parameters are only for rediss:// (cacert, sni)")
		}
		return nil, nil
	}
	args := []string{"--tls"}
	sni := u.Hostname()
	if net.ParseIP(sni) != nil {
		sni = ""
	}
	for k, v := range q {
		switch {
		case len(v) != 1 || v[0] == "":
			return nil, fmt.Errorf("url: query parameter %s needs one value", k)
		case k == "sni":
			sni = v[0]
		case k == "cacert":
			args = append(args, "--cacert", v[0])
		default:
			return nil, fmt.Errorf("url: unknown query parameter %q (known: cacert, sni)", k)
		}
	}
	if sni != "" {
		args = append(args, "--sni", sni)
	}
	return args, nil
}

// ErrSyncRefused is wrapped when the server refused to replicate to
// redis-cli, so that a check can tell it from other failures.
var ErrSyncRefused = errors.New("the server refused replication (SYNC)")

// syncHint says what to do when the server will not replicate to redis-cli.
const syncHint = "grant the user the sync, psync and replconf commands (ACL SETUSER <user> +sync +psync +replconf), " +
	"or un-rename SYNC/PSYNC, or use a Redis that allows replication; " +
	"on a managed Redis without SYNC, back it up with the provider's snapshots instead"

// refused explains an error that shows the server refused SYNC: redis-cli
// prints "SYNC with master failed: -ERR unknown command 'SYNC'" (renamed
// or unsupported) or "-NOPERM ..." (ACL), and exits 1; should a redis-cli
// exit 0 anyway, its stdout holds no RDB.
func refused(err error) error {
	msg := err.Error()
	const failed = "SYNC with master failed: "
	if _, reply, ok := strings.Cut(msg, failed); ok {
		reply, _, _ = strings.Cut(reply, "\n")
		return fmt.Errorf("%w: %s; %s", ErrSyncRefused, strings.TrimSpace(reply), syncHint)
	}
	if errors.Is(err, errNoRDB) {
		return fmt.Errorf("%w, probably: redis-cli produced no RDB (%w); %s", ErrSyncRefused, err, syncHint)
	}
	return authHint(err)
}

// authHint adds a hint to an authentication failure.
func authHint(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "WRONGPASS") || strings.Contains(msg, "NOAUTH") || strings.Contains(msg, "AUTH failed") {
		return fmt.Errorf("%w (check the password, and the user in the URL)", err)
	}
	return err
}
