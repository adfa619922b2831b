package drill

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"mbackup/internal/artifact"
	"mbackup/internal/dump"
	"mbackup/internal/engine"
	"mbackup/internal/filesdump"
	"mbackup/internal/mysqldump"
	"mbackup/internal/pgdump"
	"mbackup/internal/redisdump"
	"mbackup/internal/sandbox"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/storage/local"
	"mbackup/internal/testenv"
)

// The source servers, shared by the tests, and the snapshot taken of them
// once into a local store.
var (
	src struct {
		pg *testenv.Postgres
		my *testenv.MariaDB
		rd *testenv.Redis
	}
	base struct {
		once sync.Once
		dir  string // the local store's directory
		id   *age.X25519Identity
		m    *snapshot.Manifest
		err  error
	}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "drill-test-")
	if err != nil {
		log.Fatal(err)
	}
	var stops []func()
	fail := func(err error) {
		for _, s := range stops {
			s()
		}
		os.RemoveAll(dir)
		log.Fatal(err)
	}
	pg, stop, err := testenv.LaunchPostgres(dir)
	if err != nil {
		fail(err)
	}
	stops = append(stops, stop)
	my, stop, err := testenv.LaunchMariaDB(dir)
	if err != nil {
		fail(err)
	}
	stops = append(stops, stop)
	rd, stop, err := testenv.LaunchRedis(dir)
	if err != nil {
		fail(err)
	}
	stops = append(stops, stop)
	src.pg, src.my, src.rd = pg, my, rd
	code := m.Run()
	for _, s := range stops {
		s()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// seed fills the sources: two databases and two roles, Redis keys in two
// databases, one with an expiry, a MariaDB database.
func seed(t *testing.T) {
	src.pg.Exec(t, "postgres", `CREATE ROLE mastodon LOGIN PASSWORD 'owner-pw'; CREATE ROLE readers NOLOGIN;
		GRANT readers TO mastodon; CREATE DATABASE mastodon_production OWNER mastodon; CREATE DATABASE side;`)
	src.pg.Exec(t, "mastodon_production", `SET ROLE mastodon;
		CREATE TABLE statuses (id bigserial PRIMARY KEY, text text);
		INSERT INTO statuses (text) SELECT 'toot ' || g FROM generate_series(1, 200000) g;
		CREATE TABLE accounts (id int PRIMARY KEY, name text); INSERT INTO accounts VALUES (1, 'alice'), (2, 'bob');`)
	src.pg.Exec(t, "side", "CREATE TABLE t AS SELECT g AS n FROM generate_series(1, 777) g")
	for _, cmd := range [][]string{{"SET", "a", "1"}, {"SET", "b", "2", "EX", "86400"}, {"RPUSH", "queue:default", "x", "y"},
		{"SELECT", "0"}} {
		src.rd.Do(t, cmd...)
	}
	src.rd.Do(t, "-n", "3", "SET", "c", "3")
	src.my.Exec(t, "", "CREATE DATABASE writefreely")
	src.my.Exec(t, "writefreely", "CREATE TABLE posts (id int PRIMARY KEY, body text); INSERT INTO posts VALUES (1, 'a'), (2, 'b'), (3, NULL);")
}

// jobs are the snapshot's jobs: the globals, two databases, Redis, MySQL
// and a files entry.
func jobs(t *testing.T) []snapshot.Job {
	pc := pgdump.Config{Host: src.pg.Host, Port: src.pg.Port, User: src.pg.User, Password: src.pg.Password,
		SSLMode: "disable", BinDir: src.pg.BinDir, Databases: []string{"mastodon_production", "side"}}
	d, err := pgdump.Open(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	mc := mysqldump.Config{Host: src.my.Host, Port: src.my.Port, User: src.my.User, Password: src.my.Password}
	rc := redisdump.Config{Name: "main", URL: src.rd.URL()}
	files := t.TempDir()
	os.WriteFile(filepath.Join(files, "a.conf"), []byte("a = 1\n"), 0o600)
	os.WriteFile(filepath.Join(files, "b.conf"), []byte("b = 2\n"), 0o600)
	js := []snapshot.Job{{Component: "postgres", Name: "globals", Ext: ".sql", Produce: d.Globals}}
	for _, db := range pc.Databases {
		js = append(js, snapshot.Job{Component: "postgres", Name: db, Ext: ".dump",
			Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) { return d.Dump(ctx, db, w) }})
	}
	return append(js,
		snapshot.Job{Component: "redis", Name: "main", Ext: ".rdb",
			Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) { return redisdump.Dump(ctx, rc, w) }},
		snapshot.Job{Component: "mysql", Name: "writefreely", Ext: ".sql",
			Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) {
				return mysqldump.Dump(ctx, mc, "writefreely", w)
			}},
		engine.Job(artifact.Ref{Component: artifact.Files, Name: files, Kind: artifact.Tar},
			func(ctx context.Context, w io.Writer) (dump.Info, error) { return filesdump.Dump(ctx, files, w) }))
}

// takeInto takes a snapshot of js into a new local store in dir.
func takeInto(t *testing.T, dir string, id *age.X25519Identity, js []snapshot.Job) *snapshot.Manifest {
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	tk := &snapshot.Taker{Store: s, Recipients: []age.Recipient{id.Recipient()},
		RecipientIDs: []string{id.Recipient().String()}, Host: "test", Tool: "mbackup test"}
	m, err := tk.Take(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Failed) > 0 {
		t.Fatalf("snapshot failed: %+v", m.Failed)
	}
	return m
}

// snap returns a copy of the shared snapshot: its store, the store's
// directory (which the test may change), the identity and the manifest.
func snap(t *testing.T) (storage.Store, string, *age.X25519Identity, *snapshot.Manifest) {
	t.Helper()
	base.once.Do(func() {
		seed(t)
		base.dir, _ = os.MkdirTemp("", "drill-store-")
		base.id, _ = age.GenerateX25519Identity()
		base.m = takeInto(t, base.dir, base.id, jobs(t))
	})
	if base.m == nil {
		t.Fatal("the shared snapshot was not taken")
	}
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", base.dir+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copy the store: %v: %s", err, out)
	}
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(base.m)
	var m snapshot.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return s, dir, base.id, &m
}

// servers are the drill's server processes: children of this process
// that run a server program, not those of the sources.
func servers(t *testing.T) map[int]string {
	out := map[int]string{}
	for _, comm := range []string{"postgres", "mariadbd", "redis-server"} {
		for _, pid := range testenv.ChildrenOf(t, os.Getpid(), comm) {
			out[pid] = comm
		}
	}
	return out
}

// drillIn runs Run with opt.Dir a new directory, then checks that nothing
// is left: no new server process, no process working under the
// directory, nothing in it.
func drillIn(t *testing.T, ctx context.Context, m *snapshot.Manifest, opt Options) (Result, error) {
	t.Helper()
	before := servers(t)
	opt.Dir = t.TempDir()
	res, err := Run(ctx, m, opt)
	for pid, comm := range servers(t) {
		if _, ok := before[pid]; !ok {
			t.Errorf("%s (pid %d) still runs after Run", comm, pid)
		}
	}
	cwds, _ := filepath.Glob("/proc/[0-9]*/cwd")
	for _, c := range cwds {
		if to, err := os.Readlink(c); err == nil && strings.HasPrefix(to, opt.Dir) {
			t.Errorf("%s works in %s after Run", c, to)
		}
	}
	if entries, _ := os.ReadDir(opt.Dir); len(entries) != 0 {
		t.Errorf("%d entries left in %s: %v", len(entries), opt.Dir, entries[0].Name())
	}
	return res, err
}

func TestRun(t *testing.T) {
	s, _, id, m := snap(t)
	var log strings.Builder
	res, err := drillIn(t, t.Context(), m, Options{Store: s, Identities: []age.Identity{id}, Progress: &log})
	t.Logf("progress:\n%s", log.String())
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Snapshot != m.ID || res.Seconds <= 0 || res.Error != "" {
		t.Errorf("result %+v", res)
	}
	kinds := map[string]bool{}
	for _, st := range res.Steps {
		kinds[st.Component+" "+st.What] = true
		if st.Seconds <= 0 || st.Error != "" {
			t.Errorf("step %+v", st)
		}
	}
	for _, want := range []string{"postgres start server", "postgres restore", "postgres check", "mysql start server",
		"mysql restore", "redis restore", "redis start server", "redis check", "files check"} {
		if !kinds[want] {
			t.Errorf("no %s step in %v", want, kinds)
		}
	}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 tables, 200,002 rows equal", "4 roles exist", "4 keys in 2 databases",
		"equal to the manifest's", "2 files", "PostgreSQL 15"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the result does not say %q:\n%s", want, data)
		}
	}
	for _, secret := range []string{src.pg.Password, src.my.Password, src.rd.Password, "owner-pw", "toot 1"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("the result holds %q", secret)
		}
	}
	if cs := res.ComponentSeconds(); len(cs) != 4 || cs["postgres"] <= 0 || cs["redis"] <= 0 {
		t.Errorf("ComponentSeconds = %v", cs)
	}
}

// wantErr fails t unless err holds every one of want.
func wantErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
}

func artifactOf(m *snapshot.Manifest, name string) *snapshot.Artifact {
	for i := range m.Artifacts {
		if m.Artifacts[i].Component+"/"+m.Artifacts[i].Name == name {
			return &m.Artifacts[i]
		}
	}
	return nil
}

func TestTruncatedDump(t *testing.T) {
	s, dir, id, m := snap(t)
	a := artifactOf(m, "postgres/side")
	if err := os.Truncate(filepath.Join(dir, a.Key), a.StoredBytes/2); err != nil {
		t.Fatal(err)
	}
	res, err := drillIn(t, t.Context(), m, Options{Store: s, Identities: []age.Identity{id}})
	wantErr(t, err, a.Key, "truncated")
	if res.OK || res.Error == "" {
		t.Errorf("result %+v", res)
	}
}

func TestRowMissing(t *testing.T) {
	s, _, id, m := snap(t)
	a := artifactOf(m, "postgres/mastodon_production")
	a.Tables[0].Rows++
	_, err := drillIn(t, t.Context(), m, Options{Store: s, Identities: []age.Identity{id}})
	wantErr(t, err, a.Key, "row counts differ")
}

func TestWrongIdentity(t *testing.T) {
	s, _, _, m := snap(t)
	other, _ := age.GenerateX25519Identity()
	_, err := drillIn(t, t.Context(), m, Options{Store: s, Identities: []age.Identity{other}})
	wantErr(t, err, artifactOf(m, "postgres/globals").Key, artifactOf(m, "redis/main").Key, "not one this snapshot was encrypted to")
}

// TestRedisRefuses: an RDB whose sums are right but which Redis cannot
// load (a format version it does not know) fails the drill with its log.
func TestRedisRefuses(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	dir := t.TempDir()
	rdb := binary.LittleEndian.AppendUint64(append([]byte("REDIS0099"), 0xff), 0)
	m := takeInto(t, dir, id, []snapshot.Job{{Component: "redis", Name: "odd", Ext: ".rdb",
		Produce: func(_ context.Context, w io.Writer) (dump.Info, error) {
			_, err := w.Write(rdb)
			return dump.Info{}, err
		}}})
	s, _ := local.New(dir)
	res, err := drillIn(t, t.Context(), m, Options{Store: s, Identities: []age.Identity{id}})
	wantErr(t, err, m.Artifacts[0].Key, "RDB format version", "tail of its log")
	if last := res.Steps[len(res.Steps)-1]; last.What != StartServer || last.Error == "" {
		t.Errorf("last step %+v", last)
	}
}

func TestMissingBinaries(t *testing.T) {
	s, _, id, m := snap(t)
	empty := t.TempDir()
	_, err := drillIn(t, t.Context(), m, Options{Store: s, Identities: []age.Identity{id},
		Binaries: sandboxBinaries(empty)})
	wantErr(t, err, "postgresql-15", "mariadb-server", "redis-server")
}

func TestTooLittleDisk(t *testing.T) {
	s, _, id, m := snap(t)
	res, err := drillIn(t, t.Context(), m, Options{Store: s, Identities: []age.Identity{id}, Reserve: 1 << 60})
	wantErr(t, err, "free", "needs an estimated", "postgres")
	if len(res.Steps) != 0 {
		t.Errorf("steps ran after the disk check refused: %+v", res.Steps)
	}
}

// TestCancel cancels the drill while PostgreSQL restores the large
// database: nothing is left behind.
func TestCancel(t *testing.T) {
	s, _, id, m := snap(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := lineFunc(func(line string) {
		if strings.HasPrefix(line, "postgres/mastodon_production: checked") {
			cancel()
		}
	})
	res, err := drillIn(t, ctx, m, Options{Store: s, Identities: []age.Identity{id}, Progress: w})
	wantErr(t, err, "context canceled")
	for _, st := range res.Steps {
		if st.Component != "postgres" {
			t.Errorf("step after the cancel: %+v", st)
		}
	}
}

// lineFunc is a Progress writer that calls itself with every line.
type lineFunc func(string)

func (f lineFunc) Write(p []byte) (int, error) {
	for line := range strings.Lines(string(p)) {
		f(strings.TrimSuffix(line, "\n"))
	}
	return len(p), nil
}

// sandboxBinaries finds nothing: an empty directory for every program and
// for PostgreSQL's.
func sandboxBinaries(empty string) sandbox.Binaries {
	return sandbox.Binaries{Dirs: []string{empty}, PostgresRoot: empty}
}
