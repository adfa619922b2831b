package explain

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"mbackup/internal/config"
	"mbackup/internal/mysqldump"
	"mbackup/internal/pgdump"
	"mbackup/internal/redisdump"
	"mbackup/internal/storage"
)

// closedPort is a local port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// TestRefusedForReal: each client's own failure to reach a closed port
// reads cause first, with the fix and the setting.
func TestRefusedForReal(t *testing.T) {
	ctx := context.Background()
	port := closedPort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := &config.Config{
		Postgres: &config.Postgres{Host: "127.0.0.1", Port: port, User: "mastodon", SSLMode: "disable"},
		Redis:    []config.Redis{{Name: "cache"}, {Name: "main", URL: "redis://" + addr + "/0"}},
		MySQL:    &config.MySQL{Host: "127.0.0.1", Port: port, User: "backup"},
	}
	_, pgErr := pgdump.Open(ctx, pgdump.FromConfig(cfg.Postgres))
	_, redisErr := redisdump.Dump(ctx, redisdump.Config{Name: "main", URL: cfg.Redis[1].URL}, nil)
	_, myErr := mysqldump.Databases(ctx, mysqldump.FromConfig(cfg.MySQL))
	for _, c := range []struct {
		component, name string
		err             error
		want            string
	}{
		{"redis", "main", redisErr, "cannot connect to " + addr + ": connection refused — is redis-server running? (redis[1].url)"},
		{"postgres", "server", pgErr, "cannot connect to " + addr + ": connection refused — is PostgreSQL running? (postgres.host, postgres.port)"},
		{"mysql", "server", myErr, "cannot connect to 127.0.0.1: connection refused — is the MariaDB/MySQL server running? (mysql.host, mysql.port)"},
	} {
		if c.err == nil {
			t.Fatalf("%s: no error from a closed port", c.component)
		}
		if got := Job(cfg, c.component, c.name, c.err); got != c.want {
			t.Errorf("%s: %v\ngot  %q\nwant %q", c.component, c.err, got, c.want)
		}
	}
}

// TestCauses: the causes recognised in the texts the clients print, and
// the fallback, which keeps the error's text and still names a fix.
func TestCauses(t *testing.T) {
	pg := Source{"postgres", "postgres.host, postgres.port", "postgres.user, postgres.password_file"}
	redis := Source{"redis", "redis[0].url", "redis[0].url, redis[0].password_file"}
	my := Source{"mysql", "mysql.host, mysql.port", "mysql.user, mysql.password_file"}
	for _, c := range []struct {
		s         Source
		text      string
		cause, in string
	}{
		{pg, `pgdump: connect: failed to connect to ` + "`user=mastodon database=postgres`" + `: 10.0.0.5:5432 (10.0.0.5): server error: FATAL: password authentication failed for user "mastodon" (SQLSTATE 28P01)`,
			`10.0.0.5:5432 refused the login: password authentication failed for user "mastodon"`, "postgres.user, postgres.password_file"},
		{pg, `pgdump: connect: 10.0.0.5:5432 (10.0.0.5): server error: FATAL: no pg_hba.conf entry for host "10.0.0.9", user "mastodon", database "postgres", no encryption`,
			"10.0.0.5:5432 allows no connection from 10.0.0.9 as mastodon", "pg_hba.conf"},
		{pg, `pgdump: connect: hostname resolving error: lookup db.invalid: no such host`, "cannot resolve the host of db.invalid", "postgres.host"},
		{pg, `pgdump: connect: dial tcp 10.0.0.5:5432: i/o timeout`, "no answer from 10.0.0.5:5432", "firewall"},
		{redis, `redisdump: server version main: redis-cli: exit status 1: AUTH failed: WRONGPASS invalid username-password pair`, "the server refused the login: WRONGPASS invalid username-password pair", "redis[0].password_file"},
		{redis, `redisdump: server version main: redis-cli: exit status 1: Could not connect to Redis at /run/redis/redis.sock: No such file or directory`,
			"cannot connect to /run/redis/redis.sock: no such socket", "redis[0].url"},
		{my, `mysqldump: list databases: mariadb: exit status 1: ERROR 1045 (28000): Access denied for user 'backup'@'localhost' (using password: YES)`,
			"the server refused the login: Access denied for user 'backup'@'localhost' (using password: YES)", "mysql.password_file"},
		{my, `mysqldump: list databases: mariadb: exit status 1: ERROR 2002 (HY000): Can't connect to local server through socket '/run/mysqld/mysqld.sock' (2)`,
			"cannot connect to /run/mysqld/mysqld.sock: no such socket", "mysql.host"},
		{my, `mysqldump: list databases: mariadb: exit status 1: ERROR 2005 (HY000): Unknown server host 'db.invalid' (-2)`,
			"cannot resolve the host of db.invalid", "mysql.host"},
		{redis, `redisdump: main: redis-cli not in PATH; install it with: apt-get install -y redis-tools`,
			`redisdump: main: redis-cli not in PATH; install it with: apt-get install -y redis-tools`, "install it"},
		{my, `mysqldump: count rows of blog: something new`, `mysqldump: count rows of blog: something new`, "mysql.host, mysql.port"},
	} {
		x := Of(errors.New(c.text), c.s)
		if x.Cause != c.cause || !strings.Contains(x.Fix, c.in) {
			t.Errorf("%s\ngot  %q — %q\nwant %q, a fix naming %q", c.text, x.Cause, x.Fix, c.cause, c.in)
		}
	}
}

// TestJobUnknown: what is not a configured source, or a cause not
// recognised, keeps its own text.
func TestJobUnknown(t *testing.T) {
	err := errors.New("files: /etc/x: permission denied")
	cfg := &config.Config{Redis: []config.Redis{{Name: "main"}}}
	for _, c := range [][2]string{{"files", "/etc/x"}, {"redis", "other"}, {"postgres", "server"}} {
		if got := Job(cfg, c[0], c[1], err); got != err.Error() {
			t.Errorf("%v: %q", c, got)
		}
	}
	stalled := errors.New("snapshot: producer stalled: it wrote nothing for 2s (stopped or hung); it was killed")
	if got := Job(cfg, "redis", "main", stalled); got != stalled.Error() {
		t.Errorf("a cause not recognised: %q", got)
	}
}

// TestStorageCap: a job failed at the storage cap reads as the cap and
// what to raise where, for a postgres job as for a files entry; the text
// is recognised again once only its words are left, and nothing else is
// taken for it.
func TestStorageCap(t *testing.T) {
	cfg := &config.Config{Postgres: &config.Postgres{}}
	capped := fmt.Errorf("snapshot: upload snapshots/x/postgres/db.dump.zst.age: b2: put: %w", storage.ErrStorageCap)
	for _, c := range []struct{ component, name string }{{"postgres", "mastodon"}, {"files", "env"}} {
		got := Job(cfg, c.component, c.name, capped)
		if got != StorageCapText || !strings.Contains(got, "Caps & Alerts") || !strings.Contains(got, "mbackup prune") {
			t.Errorf("%s: %q", c.component, got)
		}
	}
	if !StorageCap(capped) || !StorageCap(errors.New("postgres mastodon: "+StorageCapText)) {
		t.Error("the cap not recognised")
	}
	for _, err := range []error{nil, errors.New("b2: put: 403 unauthorized: caps")} {
		if StorageCap(err) {
			t.Errorf("%v taken for the cap", err)
		}
	}
}
