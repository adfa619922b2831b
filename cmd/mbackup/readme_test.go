package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mbackup/internal/dump"
	"mbackup/internal/testenv"
)

// TestReadmeRestoreByHand runs the sh block of README.md's "Restore by hand"
// section exactly as printed, only with its settings pointed at a fresh
// snapshot, onto throwaway servers, and compares the restored data with the
// originals. The clients reach those servers through the environment an
// admin's shell would give them: PGHOST and PGPORT, a ~/.my.cnf, and a
// systemctl first in PATH that stands in for the service manager.
func TestReadmeRestoreByHand(t *testing.T) {
	block := readmeRestoreBlock(t)
	for _, line := range strings.Split(block, "\n") {
		if cmd := strings.TrimSpace(line); !strings.HasPrefix(cmd, "#") && strings.Contains(cmd, "redis-cli") {
			// Without -h/-p it would talk to the machine's own Redis.
			t.Fatalf("the README's restore block runs redis-cli: %q", line)
		}
	}

	seedReadmeSources(t)
	digest := redis.Do(t, "DEBUG", "DIGEST")
	dir, cfg := setup(t, "  databases: [mastodon_production]\n")
	text, _ := os.ReadFile(cfg)
	live := filepath.Join(t.TempDir(), "home", "mastodon", "live")
	envFile := filepath.Join(live, ".env.production")
	os.MkdirAll(live, 0o750)
	if err := os.WriteFile(envFile, []byte("LOCAL_DOMAIN=example.social\nSECRET_KEY_BASE=readme-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cfg, append(text, "  databases: [writefreely]\nfiles: ["+envFile+"]\n"...), 0o600)
	if code, out, errOut := mbackup(t, "--config", cfg, "backup"); code != exitOK {
		t.Fatalf("backup exited %d:\n%s\n%s", code, out, errOut)
	}
	m := onlySnapshot(t, cfg)
	var names []string
	for _, a := range m.Artifacts {
		names = append(names, a.Component+"/"+a.Name)
	}
	if want := []string{"postgres/globals", "postgres/mastodon_production", "redis/main", "mysql/writefreely", "files/" + envFile}; !slices.Equal(names, want) {
		t.Fatalf("snapshot holds %v, want %v", names, want)
	}
	snap := filepath.Join(dir, "store", filepath.Dir(filepath.Dir(m.Artifacts[0].Key)))

	freshPG := testenv.StartPostgres(t)
	freshRedis := testenv.StartRedis(t)
	freshMaria := testenv.StartMariaDB(t)
	// A Redis that has run holds a dump.rdb of its own, which the block
	// must replace.
	freshRedis.Do(t, "SET", "stale", "old data")
	freshRedis.Do(t, "SAVE")

	filesTo := filepath.Join(t.TempDir(), "files")
	script := readmeWithSettings(t, block, map[string]string{
		"S": snap, "ID": filepath.Join(dir, "id.txt"), "SIGNER": configSigner(t, cfg), "REDIS_DIR": freshRedis.Dir,
		"FILES_TO": filesTo,
	})
	for _, line := range strings.Split(script, "\n") {
		// Nothing of the machine's own: its Redis data, its backups.
		if cmd := strings.TrimSpace(line); !strings.HasPrefix(cmd, "#") && strings.Contains(cmd, "/var/") {
			t.Fatalf("the block still names a path of the machine after its settings were changed: %q", line)
		}
	}

	home, work, bin := t.TempDir(), t.TempDir(), t.TempDir()
	myCnf := fmt.Sprintf("[client]\nhost=%s\nport=%d\nuser=%s\npassword=%s\n",
		freshMaria.Host, freshMaria.Port, freshMaria.User, freshMaria.Password)
	if err := os.WriteFile(filepath.Join(home, ".my.cnf"), []byte(myCnf), 0o600); err != nil {
		t.Fatal(err)
	}
	svc := startServiceShim(t, bin, freshRedis)
	env := []string{
		"HOME=" + home,
		// The stand-in systemctl first, then the clients matching the
		// throwaway PostgreSQL server.
		"PATH=" + bin + string(os.PathListSeparator) + freshPG.BinDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		// The Unix socket, trusted without a password, as a Debian
		// server trusts its local postgres user (peer).
		"PGHOST=" + freshPG.SocketDir,
		"PGPORT=" + strconv.Itoa(freshPG.Port),
		"LC_ALL=C",
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "HOME" || name == "PATH" || name == "LC_ALL" || strings.HasPrefix(name, "PG") ||
			strings.HasPrefix(name, "MYSQL") || strings.HasPrefix(name, "MARIADB") || strings.HasPrefix(name, "REDISCLI") {
			continue
		}
		env = append(env, kv)
	}

	start := time.Now()
	out := svc.run(t, work, env, script)
	t.Logf("the README's block ran in %v:\n%s", time.Since(start).Round(time.Millisecond), out)
	if want := []string{"stop redis-server", "start redis-server"}; !slices.Equal(svc.calls, want) {
		t.Errorf("systemctl was called with %q, want %q", svc.calls, want)
	}

	checkReadmePostgres(t, freshPG, m.Artifacts[1].Tables)
	if got := freshRedis.Do(t, "DEBUG", "DIGEST"); got != digest || digest == strings.Repeat("0", 40) {
		t.Errorf("Redis DEBUG DIGEST after the restore %s, before the backup %s", got, digest)
	}
	if ttl, _ := strconv.Atoi(freshRedis.Do(t, "TTL", "session:1")); ttl <= 0 {
		t.Errorf("TTL of session:1 after the restore: %d", ttl)
	}
	if fi, err := os.Stat(filepath.Join(freshRedis.Dir, "dump.rdb")); err == nil {
		if u, err := user.Lookup("redis"); err == nil && strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)) != u.Uid {
			t.Errorf("dump.rdb is not owned by redis after the chown")
		}
	} else {
		t.Error(err)
	}
	for _, table := range []string{"posts", "log"} {
		sum := func(m *testenv.MariaDB) string {
			f := strings.Fields(m.Query(t, "writefreely", "CHECKSUM TABLE "+table))
			return f[len(f)-1]
		}
		if got, want := sum(freshMaria), sum(maria); got != want {
			t.Errorf("writefreely.%s: CHECKSUM TABLE %s after the restore, %s before", table, got, want)
		}
	}
	trigger := "SELECT group_concat(trigger_name) FROM information_schema.triggers WHERE trigger_schema = 'writefreely'"
	if got := freshMaria.Query(t, "", trigger); got != "posts_log" {
		t.Errorf("MariaDB triggers after the restore: %q", got)
	}
	want, _ := os.ReadFile(envFile)
	got, err := os.ReadFile(filepath.Join(filesTo, envFile))
	if fi, serr := os.Stat(filepath.Join(filesTo, envFile)); err != nil || serr != nil || string(got) != string(want) || fi.Mode().Perm() != 0o600 {
		t.Errorf("the .env.production unpacked by the block: %q, %v, %v; want %q, mode 0600", got, err, fi, want)
	}
}

// readmeRestoreBlock returns the sh block of README.md's "Restore by hand"
// section.
func readmeRestoreBlock(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Restore by hand\n")
	if !ok {
		t.Fatal(`README.md has no "## Restore by hand" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "\n```sh\n")
	if !ok {
		t.Fatal("README.md's Restore by hand section has no ```sh block")
	}
	block, _, ok = strings.Cut(block, "\n```\n")
	if !ok {
		t.Fatal("README.md's restore block does not end")
	}
	return block + "\n"
}

var settingLine = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=('[^']*'|\S*)(\s+#.*)?$`)

// readmeWithSettings returns block with the values of the assignments at its
// top (before the first command; comments and blank lines may come between
// them) replaced by values, which must name exactly those variables.
// configSigner is encryption.signer of the configuration at path.
func configSigner(t *testing.T, path string) string {
	t.Helper()
	b, _ := os.ReadFile(path)
	m := regexp.MustCompile(`(?m)^  signer: "(.*)"$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no encryption.signer", path)
	}
	return string(m[1])
}

func readmeWithSettings(t *testing.T, block string, values map[string]string) string {
	t.Helper()
	lines := strings.Split(block, "\n")
	var seen []string
	for i, line := range lines {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := settingLine.FindStringSubmatch(line)
		if m == nil {
			break
		}
		v, ok := values[m[1]]
		if !ok {
			t.Fatalf("the README's restore block sets %s, which the test does not know", m[1])
		}
		lines[i] = m[1] + "='" + strings.ReplaceAll(v, "'", `'\''`) + "'" + m[3]
		seen = append(seen, m[1])
	}
	slices.Sort(seen)
	want := slices.Sorted(func(yield func(string) bool) {
		for k := range values {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(seen, want) {
		t.Fatalf("the README's restore block starts by setting %v, the test sets %v", seen, want)
	}
	return strings.Join(lines, "\n")
}

// seedReadmeSources fills the source servers with the names the README
// uses: the mastodon role owning mastodon_production, Redis keys with a
// TTL, and the writefreely MariaDB database with a trigger.
func seedReadmeSources(t *testing.T) {
	pg.Exec(t, "postgres", `DROP DATABASE IF EXISTS mastodon_production; DROP ROLE IF EXISTS mastodon;
		CREATE ROLE mastodon LOGIN PASSWORD 'mastodon-pw' CREATEDB;
		CREATE DATABASE mastodon_production OWNER mastodon;`)
	pg.Exec(t, "mastodon_production", `SET ROLE mastodon;
		CREATE TABLE accounts (id bigserial PRIMARY KEY, username text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT '2026-01-01');
		CREATE TABLE statuses (id bigserial PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts, text text);
		INSERT INTO accounts (username) SELECT 'user' || g FROM generate_series(1, 50) g;
		INSERT INTO statuses (account_id, text) SELECT 1 + g % 50, 'toot ' || g FROM generate_series(1, 5000) g;
		SELECT lo_from_bytea(0, 'media attachment');`)
	redis.Do(t, "FLUSHALL")
	for _, cmd := range [][]string{
		{"SET", "session:1", "alice"}, {"EXPIRE", "session:1", "86400"},
		{"HSET", "account:1", "username", "alice", "statuses", "100"},
		{"RPUSH", "feed:home:1", "3", "2", "1"}, {"ZADD", "trends", "5", "mastodon", "3", "fediverse"},
	} {
		redis.Do(t, cmd...)
	}
	maria.Exec(t, "", "DROP DATABASE IF EXISTS writefreely; CREATE DATABASE writefreely")
	maria.Exec(t, "writefreely", `CREATE TABLE posts (id int PRIMARY KEY, title varchar(100), body blob);
		CREATE TABLE log (id int);
		CREATE TRIGGER posts_log AFTER INSERT ON posts FOR EACH ROW INSERT INTO log VALUES (NEW.id);
		INSERT INTO posts VALUES (1, 'hello', 0x00ff10), (2, 'world', 'text'), (3, NULL, NULL);`)
}

// checkReadmePostgres compares the restored server with the source.
func checkReadmePostgres(t *testing.T, fresh *testenv.Postgres, tables []dump.TableCount) {
	t.Helper()
	// The globals set the postgres role's password to the old server's, as
	// the README says: logging in with it over TCP proves it.
	fresh.Password = pg.Password
	roles := `SELECT string_agg(format('%s:%s:%s:%s:%s:%s', rolname, rolsuper, rolcreatedb, rolcanlogin, rolconnlimit, rolpassword), ' ' ORDER BY rolname)
		FROM pg_authid WHERE rolname IN ('mastodon', 'postgres')`
	if got, want := fresh.Query(t, "postgres", roles), pg.Query(t, "postgres", roles); got != want {
		t.Errorf("roles differ after the restore:\n got %s\nwant %s", got, want)
	}
	const db = "mastodon_production"
	for _, q := range []string{
		"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()",
		"SELECT string_agg(tablename || ':' || tableowner, ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'",
		"SELECT last_value || ':' || is_called FROM statuses_id_seq",
		"SELECT string_agg(convert_from(lo_get(oid), 'UTF8') || ':' || pg_get_userbyid(lomowner), ' ') FROM pg_largeobject_metadata",
		tableSums,
	} {
		if got, want := fresh.Query(t, db, q), pg.Query(t, db, q); got != want {
			t.Errorf("%s differs after the restore:\n got %s\nwant %s", q, got, want)
		}
	}
	if len(tables) != 2 {
		t.Errorf("the manifest counted %d tables, want accounts and statuses", len(tables))
	}
	for _, tc := range tables {
		got := fresh.Query(t, db, fmt.Sprintf("SELECT count(*) FROM %q.%q", tc.Schema, tc.Table))
		if got != fmt.Sprint(tc.Rows) || tc.Rows == 0 {
			t.Errorf("%s: %s rows restored, the manifest counted %d", tc.Table, got, tc.Rows)
		}
	}
}

// serviceShim is the test's stand-in for the service manager: a systemctl
// script, first in the block's PATH, that asks the test over a local TCP
// connection to stop or start the throwaway Redis server. The machine's
// own services are never touched.
type serviceShim struct {
	redis   *testenv.Redis
	ln      net.Listener
	reqs    chan shimRequest
	calls   []string
	stopped bool
}

type shimRequest struct {
	args  string
	reply chan string
}

const shimScript = `#!/bin/bash
# The test's stand-in for systemctl: it asks TestReadmeRestoreByHand to
# stop or start its throwaway Redis server.
exec 3<>/dev/tcp/127.0.0.1/%d || exit 1
printf '%%s\n' "$*" >&3
IFS= read -r answer <&3
[ "$answer" = ok ] && exit 0
echo "systemctl (test stand-in): $answer" >&2
exit 1
`

func startServiceShim(t *testing.T, bin string, r *testenv.Redis) *serviceShim {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	script := fmt.Sprintf(shimScript, ln.Addr().(*net.TCPAddr).Port)
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &serviceShim{redis: r, ln: ln, reqs: make(chan shimRequest)}
	ctx := t.Context()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				req := shimRequest{strings.TrimSpace(line), make(chan string, 1)}
				select {
				case s.reqs <- req:
				case <-ctx.Done():
					return
				}
				select {
				case answer := <-req.reply:
					fmt.Fprintln(c, answer)
				case <-ctx.Done():
				}
			}()
		}
	}()
	return s
}

// run runs script with bash -e -o pipefail in dir and returns its output,
// serving the stand-in systemctl's requests meanwhile, on t's goroutine.
func (s *serviceShim) run(t *testing.T, dir string, env []string, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir, cmd.Env, cmd.WaitDelay = dir, env, time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case req := <-s.reqs:
			s.calls = append(s.calls, req.args)
			req.reply <- s.handle(t, req.args)
		case err := <-done:
			if err != nil {
				t.Fatalf("the README's restore block failed: %v\n%s", err, out.String())
			}
			return out.String()
		}
	}
}

func (s *serviceShim) handle(t *testing.T, args string) string {
	t.Helper()
	switch args {
	case "stop redis-server":
		if s.stopped {
			return "ok"
		}
		s.redis.Do(t, "SHUTDOWN")
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			c, err := net.DialTimeout("tcp", s.redis.Addr, time.Second)
			if err != nil {
				break
			}
			c.Close()
			if time.Now().After(deadline) {
				return "redis-server still listens after SHUTDOWN"
			}
		}
		s.stopped = true
		return "ok"
	case "start redis-server":
		if s.stopped {
			s.redis.Restart(t) // loads the dump.rdb in its Dir, as it starts
			s.stopped = false
		}
		return "ok"
	}
	return "the test knows only stop and start of redis-server, not: " + args
}
