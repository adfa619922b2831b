package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mbackup/internal/testenv"
)

// migrationRoles are the attributes and password verifiers of the
// instance's roles.
const migrationRoles = `SELECT string_agg(format('%s:%s:%s:%s:%s:%s', rolname, rolsuper, rolcreatedb, rolcanlogin,
	rolconnlimit, rolpassword), ' ' ORDER BY rolname) FROM pg_authid WHERE rolname LIKE 'mastodon%'`

// migrationSources are the servers of the old machine, seeded with what a
// Mastodon host holds, and a configuration backing them up into a store
// on a b2test server.
func migrationSources(t *testing.T) (dir, cfg string, p *testenv.Postgres, r *testenv.Redis, m *testenv.MariaDB) {
	p, r, m = testenv.StartPostgres(t), testenv.StartRedis(t), testenv.StartMariaDB(t)
	p.Exec(t, "postgres", `CREATE ROLE mastodon LOGIN PASSWORD 'owner-pw' CREATEDB CONNECTION LIMIT 20;
		CREATE ROLE mastodon_readers NOLOGIN; GRANT mastodon_readers TO mastodon;
		CREATE DATABASE mastodon_production OWNER mastodon`)
	p.Exec(t, "mastodon_production", `SET ROLE mastodon;
		CREATE TABLE accounts (id bigserial PRIMARY KEY, username text NOT NULL, created_at timestamptz DEFAULT '2026-01-01');
		INSERT INTO accounts (username) SELECT 'user' || g FROM generate_series(1, 300) g;
		CREATE TABLE statuses (id bigserial PRIMARY KEY, account_id bigint REFERENCES accounts, text text, sensitive bool);
		INSERT INTO statuses (account_id, text, sensitive) SELECT 1 + g % 300, 'toot ' || g, g % 7 = 0 FROM generate_series(1, 20000) g;
		CREATE INDEX ON statuses (account_id);
		GRANT SELECT ON accounts TO mastodon_readers;
		SELECT lo_from_bytea(0, 'avatar bytes')`)
	for _, cmd := range [][]string{
		{"RPUSH", "queue:default", `{"class":"ActivityPub::DeliveryWorker"}`}, {"SADD", "queues", "default"},
		{"SET", "cache:x", "y"}, {"EXPIRE", "cache:x", "86400"},
		{"ZADD", "feed:home:1", "1", "101", "2", "102"}, {"HSET", "session", "a", "b"},
	} {
		r.Do(t, cmd...)
	}
	m.Exec(t, "", "CREATE DATABASE writefreely")
	m.Exec(t, "writefreely", `CREATE TABLE posts (id int PRIMARY KEY, body blob); CREATE TABLE log (id int);
		CREATE TRIGGER posts_log AFTER INSERT ON posts FOR EACH ROW INSERT INTO log VALUES (NEW.id);
		INSERT INTO posts VALUES (1, 0x00ff10), (2, 'text'), (3, NULL)`)

	dir, cfg = setup(t, "")
	text, _ := os.ReadFile(cfg)
	for _, sub := range [][2]string{
		{fmt.Sprintf("port: %d\n  user: %s", pg.Port, pg.User), fmt.Sprintf("port: %d\n  user: %s", p.Port, p.User)},
		{fmt.Sprintf("port: %d\n  user: %s", maria.Port, maria.User), fmt.Sprintf("port: %d\n  user: %s", m.Port, m.User)},
		{"url: redis://" + redis.Addr + "/0", "url: redis://" + r.Addr + "/0"},
	} {
		if !strings.Contains(string(text), sub[0]) {
			t.Fatalf("the config holds no %q", sub[0])
		}
		text = []byte(strings.Replace(string(text), sub[0], sub[1], 1))
	}
	os.WriteFile(cfg, text, 0o600)
	for name, pw := range map[string]string{"pg.pass": p.Password, "redis.pass": r.Password, "maria.pass": m.Password} {
		os.WriteFile(filepath.Join(dir, name), []byte(pw+"\n"), 0o600)
	}
	useB2(t, dir, cfg)
	return dir, cfg, p, r, m
}

// mastodonKeys are the secrets of a .env.production the instance cannot
// run (or read its encrypted columns) without.
var mastodonKeys = []string{"SECRET_KEY_BASE", "OTP_SECRET", "VAPID_PRIVATE_KEY", "VAPID_PUBLIC_KEY",
	"ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY", "ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT",
	"ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY"}

// migrationFiles makes the old machine's files below root (standing for
// "/"): a .env.production holding every Mastodon secret, an nginx site with
// its sites-enabled link, a unit file; it adds them to cfg's files: and
// returns the paths made, relative to root, and the secret values.
func migrationFiles(t *testing.T, cfg, root string) (paths, secrets []string) {
	t.Helper()
	env := "LOCAL_DOMAIN=example.social\nDB_NAME=mastodon_production\n"
	for i, k := range mastodonKeys {
		v := fmt.Sprintf("secret%02d-%x", i, strings.Repeat(k, 2))
		secrets = append(secrets, v)
		env += k + "=" + v + "\n"
	}
	for _, f := range []struct {
		path, text string
		mode       os.FileMode
	}{
		{"home/mastodon/live/.env.production", env, 0o600},
		{"etc/nginx/sites-available/mastodon", "server { server_name example.social; }\n", 0o644},
		{"etc/nginx/nginx.conf", "events {}\n", 0o640},
		{"etc/systemd/system/mastodon-web.service", "[Service]\nExecStart=/bin/true\n", 0o644},
	} {
		p := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.text), f.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, f.mode)
		paths = append(paths, f.path)
	}
	os.MkdirAll(filepath.Join(root, "etc/nginx/sites-enabled"), 0o755)
	if err := os.Symlink("../sites-available/mastodon", filepath.Join(root, "etc/nginx/sites-enabled/mastodon")); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(cfg)
	text = append(text, fmt.Sprintf("files:\n  - %s\n  - %s\n  - %s\n",
		filepath.Join(root, "home/mastodon/live/.env.production"), filepath.Join(root, "etc/nginx"),
		filepath.Join(root, "etc/systemd/system/mastodon-web.service"))...)
	os.WriteFile(cfg, text, 0o600)
	return paths, secrets
}

// sameFiles fails the test when a file of paths below old differs below
// restored (which holds old's absolute tree) in bytes or mode, or when
// the nginx link is not the same link.
func sameFiles(t *testing.T, old, restored string, paths []string) {
	t.Helper()
	for _, p := range paths {
		a, b := filepath.Join(old, p), filepath.Join(restored, old, p)
		want, _ := os.ReadFile(a)
		got, err := os.ReadFile(b)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s after the move: %q, %v; before: %q", p, got, err, want)
			continue
		}
		sa, _ := os.Lstat(a)
		sb, _ := os.Lstat(b)
		if sa.Mode() != sb.Mode() {
			t.Errorf("%s: mode %v after the move, %v before", p, sb.Mode(), sa.Mode())
		}
	}
	link := filepath.Join(restored, old, "etc/nginx/sites-enabled/mastodon")
	if got, err := os.Readlink(link); err != nil || got != "../sites-available/mastodon" {
		t.Errorf("sites-enabled/mastodon after the move: %q, %v", got, err)
	}
}

// TestMigration moves an instance: a backup of the old machine's servers
// through a B2 store, then one restore --yes onto fresh servers standing
// for the new machine's. Every table's rows, the roles' attributes and
// password verifiers, Redis's data (DEBUG DIGEST) and MariaDB's tables
// (CHECKSUM TABLE) are equal, and the report gives the time of every step.
func TestMigration(t *testing.T) {
	dir, cfg, p, r, m := migrationSources(t)
	oldRoot := t.TempDir()
	paths, secrets := migrationFiles(t, cfg, oldRoot)
	digest := r.Do(t, "DEBUG", "DIGEST")
	if code, out, errOut := mbackup(t, "--config", cfg, "backup"); code != exitOK {
		t.Fatalf("backup exited %d:\n%s\n%s", code, out, errOut)
	}
	_, listed, _ := mbackup(t, "--config", cfg, "list", "--json")
	for _, k := range mastodonKeys {
		if !strings.Contains(listed, `"`+k+`"`) {
			t.Errorf("the manifest does not record %s in the .env.production", k)
		}
	}
	for _, v := range secrets {
		if strings.Contains(listed, v) {
			t.Fatalf("the manifest holds the value of a secret: %s", v)
		}
	}
	f := startFresh(t)
	newRoot := filepath.Join(t.TempDir(), "new-machine")
	args := append([]string{"--config", cfg, "restore", "--staging", t.TempDir(), "--files-to", newRoot},
		f.flags(filepath.Join(dir, "id.txt"))...)
	if code, out, errOut := mbackup(t, append(args, "--dry-run")...); code != exitOK {
		t.Fatalf("restore --dry-run exited %d:\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := mbackup(t, args...)
	t.Logf("restore printed:\n%s", out)
	if code != exitOK {
		t.Fatalf("restore exited %d:\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"postgres/globals", "postgres/mastodon_production", "mysql/writefreely", "redis/main",
		"2 tables' rows as at backup", "(the recovery time, RTO)", "Mastodon (mastodon_production) is back",
		"optional: Redis was restored", "files/" + filepath.Join(oldRoot, "etc/nginx")} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}

	if got, want := f.pg.Query(t, "postgres", migrationRoles), p.Query(t, "postgres", migrationRoles); got != want || !strings.Contains(want, "SCRAM-SHA-256$") {
		t.Errorf("roles after the move:\n got %s\nwant %s", got, want)
	}
	if got, want := f.pg.Query(t, "mastodon_production", tableSums), p.Query(t, "mastodon_production", tableSums); got != want {
		t.Errorf("table md5s after the move:\n got %s\nwant %s", got, want)
	}
	if got := f.pg.Query(t, "mastodon_production", "SELECT convert_from(lo_get(oid), 'UTF8') FROM pg_largeobject_metadata"); got != "avatar bytes" {
		t.Errorf("large object after the move: %q", got)
	}
	if got := f.pg.Query(t, "mastodon_production", "SELECT has_table_privilege('mastodon_readers', 'accounts', 'SELECT')"); got != "t" {
		t.Error("the grant on accounts was not restored")
	}
	f.redis.Start(t)
	if got := f.redis.Do(t, "DEBUG", "DIGEST"); got != digest || digest == strings.Repeat("0", 40) {
		t.Errorf("Redis DEBUG DIGEST after the move %s, before %s", got, digest)
	}
	for _, table := range []string{"posts", "log"} {
		sum := func(db *testenv.MariaDB) string {
			fields := strings.Fields(db.Query(t, "writefreely", "CHECKSUM TABLE "+table))
			return fields[len(fields)-1]
		}
		if got, want := sum(f.maria), sum(m); got != want {
			t.Errorf("writefreely.%s: CHECKSUM TABLE %s after the move, %s before", table, got, want)
		}
	}
	if got := f.maria.Query(t, "", "SELECT group_concat(trigger_name) FROM information_schema.triggers WHERE trigger_schema = 'writefreely'"); got != "posts_log" {
		t.Errorf("triggers after the move: %q", got)
	}
	sameFiles(t, oldRoot, newRoot, paths)
	if st, err := os.Stat(newRoot); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("the review directory: %v, %v; want 0700", st, err)
	}
}
