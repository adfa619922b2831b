package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mbackup/internal/snapshot"
	"mbackup/internal/testenv"
)

// seedSources fills the three servers with what a Mastodon host has:
// roles with grants and two PostgreSQL databases, every Redis key type with
// TTLs, and two MariaDB databases with a trigger.
func seedSources(t *testing.T) {
	pg.Exec(t, "postgres", `CREATE ROLE e2e_owner LOGIN PASSWORD 'owner-pw' CREATEDB CONNECTION LIMIT 20;
		CREATE ROLE e2e_reader NOLOGIN; GRANT e2e_reader TO e2e_owner;
		CREATE DATABASE e2e_one OWNER e2e_owner; CREATE DATABASE e2e_two;`)
	pg.Exec(t, "e2e_one", `SET ROLE e2e_owner;
		CREATE TABLE statuses (id bigserial PRIMARY KEY, text text, created timestamptz DEFAULT '2026-01-01');
		INSERT INTO statuses (text) SELECT 'toot ' || g FROM generate_series(1, 200000) g;
		CREATE TABLE accounts (id int PRIMARY KEY, name text); INSERT INTO accounts VALUES (1, 'alice'), (2, 'bob');
		GRANT SELECT ON accounts TO e2e_reader;
		SELECT lo_from_bytea(0, 'avatar bytes');`)
	pg.Exec(t, "e2e_two", "CREATE TABLE t AS SELECT g AS n FROM generate_series(1, 777) g")
	redis.Do(t, "FLUSHALL")
	for _, cmd := range [][]string{
		{"SET", "str", "value"}, {"EXPIRE", "str", "86400"},
		{"RPUSH", "list", "a", "b", "c"}, {"SADD", "set", "x", "y"}, {"ZADD", "zset", "1", "one", "2", "two"},
		{"HSET", "hash", "f", "v", "g", "w"}, {"PEXPIRE", "hash", "9000000"},
		{"XADD", "stream", "1-1", "field", "value"}, {"SELECT", "0"},
	} {
		redis.Do(t, cmd...)
	}
	for _, db := range []string{"e2e_blog", "e2e_wiki"} {
		maria.Exec(t, "", "CREATE DATABASE "+db)
		maria.Exec(t, db, `CREATE TABLE posts (id int PRIMARY KEY, body blob, n int);
			CREATE TABLE log (id int);
			CREATE TRIGGER posts_log AFTER INSERT ON posts FOR EACH ROW INSERT INTO log VALUES (NEW.id);
			INSERT INTO posts VALUES (1, 0x00ff10, 1), (2, 'text', 2), (3, NULL, 3);`)
	}
}

// watchArgv scans every process's command line until stop is closed and
// returns the producers it saw and any command line holding a secret.
func watchArgv(stop <-chan struct{}, secrets []string) (seen map[string]bool, leaks []string) {
	seen = map[string]bool{}
	for {
		select {
		case <-stop:
			return seen, leaks
		default:
		}
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			b, _ := os.ReadFile(p)
			cmd := strings.ReplaceAll(string(b), "\x00", " ")
			for _, prod := range []string{"pg_dump", "pg_dumpall", "redis-cli", "mariadb-dump"} {
				if strings.Contains(cmd, "/"+prod+" ") || strings.HasPrefix(cmd, prod+" ") {
					seen[prod] = true
				}
			}
			for _, s := range secrets {
				if strings.Contains(cmd, s) {
					leaks = append(leaks, cmd)
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSnapshotRestoresByHand takes a snapshot of all three servers, then
// decrypts every artifact with the stock age and zstd, loads it into fresh
// servers with the stock clients and compares.
func TestSnapshotRestoresByHand(t *testing.T) {
	seedSources(t)
	digest := redis.Do(t, "DEBUG", "DIGEST")
	dir, cfg := setup(t, "  databases: [e2e_one, e2e_two]\n")
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(text, "  databases: [e2e_blog, e2e_wiki]\n"...), 0o600)

	stop := make(chan struct{})
	var seen map[string]bool
	var leaks []string
	var wg sync.WaitGroup
	wg.Go(func() { seen, leaks = watchArgv(stop, []string{pg.Password, redis.Password, maria.Password}) })
	code, out, errOut := mbackup(t, "--config", cfg, "backup")
	close(stop)
	wg.Wait()
	if code != exitOK {
		t.Fatalf("backup exited %d:\n%s\n%s", code, out, errOut)
	}
	if len(leaks) > 0 {
		t.Errorf("a password was in argv: %q", leaks)
	}
	t.Logf("producers seen running: %v", seen)
	if !seen["pg_dump"] && !seen["redis-cli"] && !seen["mariadb-dump"] {
		t.Error("the argv watcher saw no producer: it proved nothing")
	}
	m := onlySnapshot(t, cfg)
	if len(m.Artifacts) != 6 {
		t.Fatalf("%d artifacts, want globals + 2 pg + 1 redis + 2 mysql", len(m.Artifacts))
	}
	files := decryptAll(t, dir, m)
	checkPostgres(t, m, files)
	checkRedis(t, digest, files["redis/main"])
	checkMariaDB(t, files)
}

func onlySnapshot(t *testing.T, cfg string) *snapshot.Manifest {
	t.Helper()
	_, out, _ := mbackup(t, "--config", cfg, "list", "--json")
	var entries []listEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil || len(entries) != 1 {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	return entries[0].Manifest
}

// decryptAll runs age -d | zstd -d on every artifact, as the README says.
func decryptAll(t *testing.T, dir string, m *snapshot.Manifest) map[string]string {
	t.Helper()
	files := map[string]string{}
	out := t.TempDir()
	os.Chmod(out, 0o755) // the postgres user's pg_restore reads these
	for _, a := range m.Artifacts {
		plain := filepath.Join(out, a.Component+"-"+a.Name)
		sh := `age -d -i "$1" "$2" | zstd -d -q -o "$3"`
		cmd := exec.Command("sh", "-c", sh, "sh", filepath.Join(dir, "id.txt"), filepath.Join(dir, "store", a.Key), plain)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("decrypting %s by hand: %v\n%s", a.Key, err, b)
		}
		os.Chmod(plain, 0o644)
		files[a.Component+"/"+a.Name] = plain
	}
	return files
}

func runTool(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
	return string(b)
}

const tableSums = `SELECT string_agg(format('%s=%s', c.relname, (xpath('/row/c/text()',
	query_to_xml(format('SELECT md5(string_agg(t::text, '','' ORDER BY t::text)) AS c FROM %I t', c.relname), false, true, '')))[1]), ' ' ORDER BY c.relname)
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'`

const roleAttrs = `SELECT string_agg(format('%s:%s:%s:%s:%s:%s', rolname, rolsuper, rolcreatedb, rolcanlogin, rolconnlimit, rolpassword), ' ' ORDER BY rolname)
	FROM pg_authid WHERE rolname LIKE 'e2e_%'`

const members = `SELECT string_agg(r.rolname || '>' || m.rolname, ' ') FROM pg_auth_members a
	JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member WHERE r.rolname LIKE 'e2e_%'`

func checkPostgres(t *testing.T, m *snapshot.Manifest, files map[string]string) {
	t.Helper()
	fresh := testenv.StartPostgres(t)
	psql, restore := filepath.Join(fresh.BinDir, "psql"), filepath.Join(fresh.BinDir, "pg_restore")
	// Roles: "postgres already exists" is expected on a fresh server.
	runTool(t, fresh.Env(), psql, "-X", "-q", "-d", "postgres", "-f", files["postgres/globals"])
	// The globals hold ALTER ROLE postgres ... PASSWORD of the old server:
	// from now on the new server's superuser has the old password.
	fresh.Password = pg.Password
	for _, q := range []string{roleAttrs, members} {
		if got, want := fresh.Query(t, "postgres", q), pg.Query(t, "postgres", q); got != want {
			t.Errorf("roles differ after restore:\n got %s\nwant %s", got, want)
		}
	}
	for _, a := range m.Artifacts {
		if a.Component != "postgres" || a.Name == "globals" {
			continue
		}
		owner := pg.Query(t, "postgres", fmt.Sprintf("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '%s'", a.Name))
		fresh.Exec(t, "postgres", fmt.Sprintf("CREATE DATABASE %s OWNER %s", a.Name, owner))
		runTool(t, fresh.Env(), restore, "-d", a.Name, "-j", "2", "--exit-on-error", files["postgres/"+a.Name])
		for _, tc := range a.Tables {
			got := fresh.Query(t, a.Name, fmt.Sprintf("SELECT count(*) FROM %q.%q", tc.Schema, tc.Table))
			if got != fmt.Sprint(tc.Rows) {
				t.Errorf("%s.%s: %s rows restored, the manifest counted %d", a.Name, tc.Table, got, tc.Rows)
			}
		}
		if got, want := fresh.Query(t, a.Name, tableSums), pg.Query(t, a.Name, tableSums); got != want {
			t.Errorf("%s: table checksums differ:\n got %s\nwant %s", a.Name, got, want)
		}
	}
	if got := fresh.Query(t, "e2e_one", "SELECT convert_from(lo_get(oid), 'UTF8') FROM pg_largeobject_metadata"); got != "avatar bytes" {
		t.Errorf("large object restored as %q", got)
	}
	if got := fresh.Query(t, "e2e_one", "SELECT has_table_privilege('e2e_reader', 'accounts', 'SELECT')"); got != "t" {
		t.Errorf("grant on accounts not restored")
	}
}

func checkRedis(t *testing.T, digest, rdb string) {
	t.Helper()
	fresh := testenv.StartRedis(t)
	b, err := os.ReadFile(rdb)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(fresh.Dir, "dump.rdb"), b, 0o600)
	fresh.Restart(t)
	if got := fresh.Do(t, "DEBUG", "DIGEST"); got != digest || digest == strings.Repeat("0", 40) {
		t.Errorf("DEBUG DIGEST after restore %s, before backup %s", got, digest)
	}
	if ttl := fresh.Do(t, "TTL", "str"); ttl == "-1" || ttl == "-2" {
		t.Errorf("TTL of str after restore: %s", ttl)
	}
}

func checkMariaDB(t *testing.T, files map[string]string) {
	t.Helper()
	for _, db := range []string{"e2e_blog", "e2e_wiki"} {
		restored := db + "_restored"
		maria.Exec(t, "", "CREATE DATABASE "+restored)
		cmd := exec.Command("sh", "-c", `mariadb --defaults-extra-file="$1" "$2" < "$3"`, "sh", maria.DefaultsFile, restored, files["mysql/"+db])
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("loading %s: %v\n%s", db, err, b)
		}
		for _, table := range []string{"posts", "log"} {
			sum := func(d string) string {
				f := strings.Fields(maria.Query(t, d, "CHECKSUM TABLE "+table))
				return f[len(f)-1]
			}
			if got, want := sum(restored), sum(db); got != want {
				t.Errorf("%s.%s: CHECKSUM TABLE %s after restore, %s before", db, table, got, want)
			}
		}
		if got := maria.Query(t, restored, "SELECT count(*) FROM information_schema.triggers WHERE trigger_schema = DATABASE()"); got != "1" {
			t.Errorf("%s: %s triggers restored", db, got)
		}
	}
}
