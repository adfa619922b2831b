package restore

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"mbackup/internal/b2test"
	"mbackup/internal/dump"
	"mbackup/internal/engine"
	"mbackup/internal/mysqldump"
	"mbackup/internal/pgdump"
	"mbackup/internal/redisdump"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/storage/b2"
	"mbackup/internal/storage/local"
	"mbackup/internal/testenv"
)

// sources are the servers snapshots are taken of, shared by the tests.
type sources struct {
	pg    *testenv.Postgres
	redis *testenv.Redis
	maria *testenv.MariaDB
}

func pgConfig(p *testenv.Postgres) *pgdump.Config {
	return &pgdump.Config{Host: p.Host, Port: p.Port, User: p.User, Password: p.Password, SSLMode: "disable", BinDir: p.BinDir}
}

func mysqlConfig(m *testenv.MariaDB) *mysqldump.Config {
	return &mysqldump.Config{Host: m.Host, Port: m.Port, User: m.User, Password: m.Password}
}

// seed fills the sources with what a Mastodon host holds: two databases
// owned by a role with a password and grants, sequences and a large
// object; every Redis key type with TTLs; MariaDB with a trigger.
func seed(t *testing.T) sources {
	t.Helper()
	src := sources{testenv.StartPostgres(t), testenv.StartRedis(t), testenv.StartMariaDB(t)}
	src.pg.Exec(t, "postgres", `CREATE ROLE mastodon LOGIN PASSWORD 'owner-pw' CREATEDB CONNECTION LIMIT 20;
		CREATE ROLE readers NOLOGIN; GRANT readers TO mastodon;
		CREATE DATABASE mastodon_production OWNER mastodon; CREATE DATABASE side;`)
	src.pg.Exec(t, "mastodon_production", `SET ROLE mastodon;
		CREATE TABLE statuses (id bigserial PRIMARY KEY, text text, created timestamptz DEFAULT '2026-01-01');
		INSERT INTO statuses (text) SELECT 'toot ' || g FROM generate_series(1, 50000) g;
		CREATE TABLE accounts (id int PRIMARY KEY, name text); INSERT INTO accounts VALUES (1, 'alice'), (2, 'bob');
		GRANT SELECT ON accounts TO readers;
		SELECT lo_from_bytea(0, 'avatar bytes');`)
	src.pg.Exec(t, "side", "CREATE TABLE t AS SELECT g AS n FROM generate_series(1, 777) g")
	for _, cmd := range [][]string{
		{"SET", "str", "value"}, {"EXPIRE", "str", "86400"},
		{"RPUSH", "list", "a", "b", "c"}, {"SADD", "set", "x", "y"}, {"ZADD", "zset", "1", "one", "2", "two"},
		{"HSET", "hash", "f", "v", "g", "w"}, {"PEXPIRE", "hash", "9000000"},
		{"XADD", "stream", "1-1", "field", "value"},
	} {
		src.redis.Do(t, cmd...)
	}
	src.maria.Exec(t, "", "CREATE DATABASE writefreely")
	src.maria.Exec(t, "writefreely", `CREATE TABLE posts (id int PRIMARY KEY, body blob);
		CREATE TABLE log (id int);
		CREATE TRIGGER posts_log AFTER INSERT ON posts FOR EACH ROW INSERT INTO log VALUES (NEW.id);
		INSERT INTO posts VALUES (1, 0x00ff10), (2, 'text'), (3, NULL);`)
	return src
}

// take takes a snapshot of src into s and returns its manifest.
func take(t *testing.T, s storage.Store, id *age.X25519Identity, src sources) *snapshot.Manifest {
	t.Helper()
	ctx := context.Background()
	pc := *pgConfig(src.pg)
	pc.Databases = []string{"mastodon_production", "side"}
	d, err := pgdump.Open(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	rc := redisdump.Config{Name: "main", URL: src.redis.URL()}
	mc := *mysqlConfig(src.maria)
	jobs := []snapshot.Job{{Component: "postgres", Name: "globals", Ext: ".sql", Produce: d.Globals}}
	for _, db := range pc.Databases {
		jobs = append(jobs, snapshot.Job{Component: "postgres", Name: db, Ext: ".dump",
			Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) { return d.Dump(ctx, db, w) }})
	}
	jobs = append(jobs,
		snapshot.Job{Component: "redis", Name: "main", Ext: ".rdb",
			Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) { return redisdump.Dump(ctx, rc, w) }},
		snapshot.Job{Component: "mysql", Name: "writefreely", Ext: ".sql",
			Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) {
				return mysqldump.Dump(ctx, mc, "writefreely", w)
			}})
	tk := &snapshot.Taker{Store: s, Recipients: []age.Recipient{id.Recipient()},
		RecipientIDs: []string{id.Recipient().String()}, Host: "test", Tool: "mbackup test"}
	m, err := tk.Take(ctx, jobs)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newB2(t *testing.T) (storage.Store, *b2test.Server) {
	t.Helper()
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	return b2Store(t, srv, 2*time.Second), srv
}

// b2Store is a store on srv's bucket that gives up on a transfer with no
// progress for stall.
func b2Store(t *testing.T, srv *b2test.Server, stall time.Duration) storage.Store {
	t.Helper()
	s, err := b2.New(context.Background(), b2.Config{
		KeyID: srv.KeyID, AppKey: srv.AppKey, Bucket: "backups", Prefix: "mastodon/",
		ChunkSize: 5_000_000, ConcurrentUploads: 2, APIBase: srv.URL,
		CallTimeout: 5 * time.Second, StallTimeout: stall, UploadRetries: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const tableSums = `SELECT string_agg(format('%s=%s', c.relname, (xpath('/row/c/text()',
	query_to_xml(format('SELECT md5(string_agg(t::text, '','' ORDER BY t::text)) AS c FROM %I t', c.relname), false, true, '')))[1]), ' ' ORDER BY c.relname)
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'`

const roleAttrs = `SELECT string_agg(format('%s:%s:%s:%s:%s:%s', rolname, rolsuper, rolcreatedb, rolcanlogin, rolconnlimit, rolpassword), ' ' ORDER BY rolname)
	FROM pg_authid WHERE rolname IN ('mastodon', 'readers')`

const members = `SELECT string_agg(r.rolname || '>' || m.rolname, ' ') FROM pg_auth_members a
	JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member`

// TestRoundTripB2 backs up realistic data through the b2 store on the fake
// B2, restores everything onto fresh servers and compares it all.
func TestRoundTripB2(t *testing.T) {
	src := seed(t)
	store, srv := newB2(t)
	id, _ := age.GenerateX25519Identity()
	m := take(t, store, id, src)
	digest := src.redis.Do(t, "DEBUG", "DIGEST")

	pg, rd, my := testenv.StartPostgres(t), testenv.StartRedis(t), testenv.StartMariaDB(t)
	rd.Stop(t)
	targets := Targets{pgConfig(pg), mysqlConfig(my), &redisdump.Target{Dir: rd.Dir}}
	steps, err := Plan(m, nil, targets, false)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	staging := t.TempDir()
	gets := srv.Count("download")
	rep, err := Run(context.Background(), steps, targets, Options{Store: store, Identities: []age.Identity{id}, StagingDir: staging, Progress: &log})
	t.Logf("progress:\n%s", log.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restored %d artifacts in %s with %d downloads", len(rep.Steps), rep.Total, srv.Count("download")-gets)
	if entries, _ := os.ReadDir(staging); len(entries) != 0 {
		t.Errorf("the staging directory holds %d entries after the restore", len(entries))
	}
	order := []string{}
	for _, r := range rep.Steps {
		order = append(order, r.Name())
	}
	if got := strings.Join(order, " "); got != "postgres/globals postgres/mastodon_production postgres/side mysql/writefreely redis/main" {
		t.Errorf("steps ran in the order %s", got)
	}
	if g, _ := rep.Steps[0].Detail.(*pgdump.GlobalsReport); g == nil || strings.Join(g.Created, ",") != "mastodon,readers" || g.Self != "postgres" {
		t.Errorf("globals report %+v", g)
	}
	if rep.Steps[1].Tables != 2 {
		t.Errorf("%d tables counted in mastodon_production", rep.Steps[1].Tables)
	}

	for _, q := range []string{roleAttrs, members} {
		if got, want := pg.Query(t, "postgres", q), src.pg.Query(t, "postgres", q); got != want {
			t.Errorf("roles differ after restore:\n got %s\nwant %s", got, want)
		}
	}
	for _, db := range []string{"mastodon_production", "side"} {
		if got, want := pg.Query(t, db, tableSums), src.pg.Query(t, db, tableSums); got != want {
			t.Errorf("%s: table checksums differ:\n got %s\nwant %s", db, got, want)
		}
	}
	if got := pg.Query(t, "mastodon_production", "SELECT pg_get_userbyid(datdba) || ' ' || nextval('statuses_id_seq') || ' ' || convert_from(lo_get(pg_largeobject_metadata.oid), 'UTF8') FROM pg_database, pg_largeobject_metadata WHERE datname = 'mastodon_production'"); got != "mastodon 50001 avatar bytes" {
		t.Errorf("owner, sequence and large object after restore: %q", got)
	}
	if got := pg.Query(t, "mastodon_production", "SELECT has_table_privilege('readers', 'accounts', 'SELECT')"); got != "t" {
		t.Error("the grant on accounts was not restored")
	}
	for _, table := range []string{"posts", "log"} {
		if got, want := checksum(t, my, table), checksum(t, src.maria, table); got != want {
			t.Errorf("writefreely.%s: CHECKSUM TABLE %s after restore, %s before", table, got, want)
		}
	}
	if got := my.Query(t, "writefreely", "SELECT count(*) FROM information_schema.triggers WHERE trigger_schema = DATABASE()"); got != "1" {
		t.Errorf("%s triggers restored", got)
	}
	rd.Start(t)
	if got := rd.Do(t, "DEBUG", "DIGEST"); got != digest || strings.Trim(digest, "0") == "" {
		t.Errorf("DEBUG DIGEST after restore %s, before backup %s", got, digest)
	}
	if ttl := rd.Do(t, "TTL", "str"); ttl == "-1" || ttl == "-2" {
		t.Errorf("TTL of str after restore: %s", ttl)
	}
}

func checksum(t *testing.T, m *testenv.MariaDB, table string) string {
	f := strings.Fields(m.Query(t, "writefreely", "CHECKSUM TABLE "+table))
	return f[len(f)-1]
}

// localSnapshot takes a PostgreSQL-only snapshot into a local store.
func localSnapshot(t *testing.T, src sources) (storage.Store, string, *age.X25519Identity, *snapshot.Manifest) {
	t.Helper()
	dir := t.TempDir()
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	return s, dir, id, take(t, s, id, src)
}

func artifactNamed(t *testing.T, m *snapshot.Manifest, name string) snapshot.Artifact {
	for _, a := range m.Artifacts {
		if a.Component+"/"+a.Name == name {
			return a
		}
	}
	t.Fatalf("no artifact %s", name)
	return snapshot.Artifact{}
}

// TestDamagedArtifactsChangeNothing: a flipped byte, a truncated or
// missing artifact and a wrong identity are reported, naming the artifact,
// and the target gets nothing of that artifact.
func TestDamagedArtifactsChangeNothing(t *testing.T) {
	src := seed(t)
	store, dir, id, m := localSnapshot(t, src)
	pg := testenv.StartPostgres(t)
	targets := Targets{pgConfig(pg), mysqlConfig(src.maria), &redisdump.Target{Dir: t.TempDir()}}
	steps, err := Plan(m, []string{"postgres/mastodon_production", "mysql"}, targets, false)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, artifactNamed(t, m, "postgres/mastodon_production").Key)
	good, _ := os.ReadFile(key)
	wrong, _ := age.GenerateX25519Identity()
	for _, tc := range []struct {
		name   string
		damage func()
		ids    []age.Identity
		want   []string
	}{
		{"flipped byte", func() {
			b := bytes.Clone(good)
			b[len(b)/2] ^= 0x01
			os.WriteFile(key, b, 0o600)
		}, nil, []string{"mastodon_production.dump.zst.age: stored sha256 differs", "nothing was restored"}},
		{"truncated", func() { os.WriteFile(key, good[:len(good)-100], 0o600) }, nil,
			[]string{"mastodon_production.dump.zst.age", "truncated", "nothing was restored"}},
		{"missing", func() { os.Remove(key) }, nil, []string{"mastodon_production.dump.zst.age: missing", "nothing was restored"}},
		{"wrong identity", func() {}, []age.Identity{wrong}, []string{"not one this snapshot was encrypted to", "nothing was restored"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.damage()
			defer os.WriteFile(key, good, 0o600)
			ids := tc.ids
			if ids == nil {
				ids = []age.Identity{id}
			}
			_, err := Run(context.Background(), steps, targets, Options{Store: store, Identities: ids, StagingDir: t.TempDir()})
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("Run: %v; want %q", err, w)
				}
			}
			t.Log(err)
			if got := pg.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'mastodon_production'"); got != "0" {
				t.Error("the target has a mastodon_production database")
			}
		})
	}
	// A database that exists and is not empty is refused without clean,
	// and restored over with it.
	pg.Exec(t, "postgres", "CREATE ROLE mastodon; CREATE ROLE readers; CREATE DATABASE mastodon_production OWNER mastodon")
	pg.Exec(t, "mastodon_production", "CREATE TABLE statuses (id int)")
	one := steps[:1]
	_, err = Run(context.Background(), one, targets, Options{Store: store, Identities: []age.Identity{id}})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore into a non-empty database: %v", err)
	}
	if _, err := Run(context.Background(), one, targets, Options{Store: store, Identities: []age.Identity{id}, Clean: true}); err != nil {
		t.Fatalf("restore with clean: %v", err)
	}
	if got := pg.Query(t, "mastodon_production", "SELECT count(*) FROM statuses"); got != "50000" {
		t.Errorf("%s rows after the clean restore", got)
	}
}

// TestPlan checks selection, order and the errors that name what exists.
func TestPlan(t *testing.T) {
	m := &snapshot.Manifest{ID: "20261122T120000Z-abcdef", Artifacts: []snapshot.Artifact{
		{Key: "snapshots/x/redis/main.rdb.zst.age", Component: "redis", Name: "main"},
		{Key: "snapshots/x/postgres/globals.sql.zst.age", Component: "postgres", Name: "globals"},
		{Key: "snapshots/x/postgres/a.dump.zst.age", Component: "postgres", Name: "a"},
	}}
	all := Targets{&pgdump.Config{User: "postgres"}, &redisdump.Target{Dir: "/var/lib/redis"}}
	steps, err := Plan(m, nil, all, true)
	if err != nil || len(steps) != 3 || steps[0].Name() != "postgres/globals" || steps[2].Name() != "redis/main" {
		t.Fatalf("Plan: %v %v", steps, err)
	}
	if !strings.Contains(steps[1].Does, "DROPS") || !strings.Contains(steps[2].Does, "/var/lib/redis/dump.rdb") {
		t.Errorf("steps say %q, %q", steps[1].Does, steps[2].Does)
	}
	for _, tc := range []struct {
		only []string
		t    Targets
		want string
	}{
		{[]string{"postgres/b"}, all, `nothing named "postgres/b" (it has redis/main, postgres/globals, postgres/a)`},
		{[]string{"mysql"}, all, `nothing named "mysql"`},
		{nil, Targets{all[0]}, "redis/main: no Redis target given"},
	} {
		if _, err := Plan(m, tc.only, tc.t, false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Plan(%v): %v; want %q", tc.only, err, tc.want)
		}
	}
}

// TestDrill restores into scratch databases, checks the counts, and drops
// them; a manifest whose counts disagree fails naming the table.
func TestDrill(t *testing.T) {
	src := seed(t)
	store, _, id, m := localSnapshot(t, src)
	scratch, scratchMy := testenv.StartPostgres(t), testenv.StartMariaDB(t)
	opt := Options{Store: store, Identities: []age.Identity{id}, StagingDir: t.TempDir()}
	rep, err := Drill(context.Background(), m, []engine.Scratch{pgConfig(scratch), mysqlConfig(scratchMy)}, opt)
	if err != nil {
		t.Fatal(err)
	}
	tables := 0
	for _, r := range rep.Steps {
		tables += r.Tables
	}
	if len(rep.Steps) != 4 || tables != 5 {
		t.Errorf("drill ran %d steps counting %d tables", len(rep.Steps), tables)
	}
	left := scratch.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'mbackup_drill_%'") +
		scratchMy.Query(t, "", "SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'mbackup_drill_%'")
	if left != "00" {
		t.Errorf("scratch databases left: %s", left)
	}

	for i := range m.Artifacts {
		if m.Artifacts[i].Name == "mastodon_production" {
			m.Artifacts[i].Tables[0].Rows++
		}
	}
	_, err = Drill(context.Background(), m, []engine.Scratch{pgConfig(scratch)}, opt)
	if err == nil || !strings.Contains(err.Error(), "row counts differ") || !strings.Contains(err.Error(), "public.accounts: 2 rows, dumped with 3") {
		t.Fatalf("drill with a wrong count: %v", err)
	}
	t.Log(err)
	if got := scratch.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'mbackup_drill_%'"); got != "0" {
		t.Errorf("%s scratch databases left after a failed drill", got)
	}
}
