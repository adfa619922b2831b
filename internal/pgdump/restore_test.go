package pgdump

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mbackup/internal/dump"
	"mbackup/internal/engine"
	"mbackup/internal/testenv"
)

// restoreSource has roles with passwords, attributes, settings, a comment
// whose second line looks like a statement, and memberships, and two
// databases with sequences, a large object, grants and objects owned by a
// role that is not a superuser.
const restoreRoles = `
CREATE ROLE "Rs Group" NOLOGIN;
CREATE ROLE rs_owner LOGIN PASSWORD 'owner-pw' CREATEDB VALID UNTIL '2030-01-01 00:00:00+00';
CREATE ROLE rs_app LOGIN PASSWORD 'app-pw' CONNECTION LIMIT 7 IN ROLE "Rs Group";
CREATE ROLE rs_admin LOGIN CREATEROLE BYPASSRLS PASSWORD 'admin-pw';
GRANT "Rs Group" TO rs_owner WITH ADMIN OPTION;
ALTER ROLE rs_app SET statement_timeout = '5s';
COMMENT ON ROLE rs_app IS 'the app''s role
CREATE ROLE rs_ghost;';
CREATE DATABASE rs_one OWNER rs_owner;
CREATE DATABASE rs_two;
`

const restoreOne = `
CREATE SEQUENCE ticket START 100 INCREMENT 7;
SELECT nextval('ticket') FROM generate_series(1, 5);
CREATE TABLE statuses (id bigserial PRIMARY KEY, body text, at timestamptz);
INSERT INTO statuses (body, at) SELECT md5(g::text), '2026-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 20000) g;
CREATE TABLE app_owned (id serial PRIMARY KEY, v jsonb);
ALTER TABLE app_owned OWNER TO rs_app;
INSERT INTO app_owned (v) SELECT jsonb_build_object('n', g, 's', 'x' || g) FROM generate_series(1, 300) g;
GRANT SELECT ON statuses TO "Rs Group";
SELECT lo_from_bytea(4242, 'a large object');
ALTER LARGE OBJECT 4242 OWNER TO rs_app;
`

const restoreTwo = `
CREATE SCHEMA side AUTHORIZATION rs_app;
CREATE TABLE side."Odd Name" (k text PRIMARY KEY, n numeric);
INSERT INTO side."Odd Name" SELECT 'k' || g, g / 7.0 FROM generate_series(1, 500) g;
CREATE TABLE empty_one (x int);
`

// roleQueries describe the test's roles in detail; each must give the same
// answer on the source and on the restored server.
var roleQueries = []string{
	`SELECT string_agg(format('%s super=%s inherit=%s createrole=%s createdb=%s login=%s repl=%s bypassrls=%s connlimit=%s until=%s password=%s',
		rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil, rolpassword),
		E'\n' ORDER BY rolname) FROM pg_authid WHERE rolname IN ('rs_owner', 'rs_app', 'rs_admin', 'Rs Group')`,
	`SELECT string_agg(format('%s in %s admin=%s', m.rolname, r.rolname, am.admin_option), E'\n' ORDER BY m.rolname, r.rolname)
		FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member WHERE r.rolname = 'Rs Group'`,
	`SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = 'rs_app'`,
	`SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = 'rs_app'`,
}

func configOf(p *testenv.Postgres) Config {
	return Config{Host: p.Host, Port: p.Port, User: p.User, Password: p.Password, SSLMode: "disable"}
}

// TestRestore dumps the globals and two databases of the package's server
// and restores them onto a fresh second server.
func TestRestore(t *testing.T) {
	ctx := context.Background()
	pg.Exec(t, "postgres", restoreRoles)
	pg.Exec(t, "rs_one", restoreOne)
	pg.Exec(t, "rs_two", restoreTwo)
	d := open(t, superuser())
	var globals bytes.Buffer
	if _, err := d.Globals(ctx, &globals); err != nil {
		t.Fatal(err)
	}
	files, infos := map[string]string{}, map[string]dump.Info{}
	for _, db := range []string{"rs_one", "rs_two"} {
		files[db], infos[db] = dumpToFile(t, d, db)
	}
	target := testenv.StartPostgres(t)
	tcfg := configOf(target)
	selfPassword := target.Query(t, "postgres", "SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'")

	// A database whose owner does not exist yet is refused, and not created.
	err := RestoreDatabase(ctx, tcfg, "rs_one", files["rs_one"], RestoreOptions{})
	wantErr(t, err, `pgdump: restore rs_one: role "rs_owner", which owned the dumped database, does not exist: restore the globals first`)
	checkNoDatabase(t, target, "rs_one")

	// rs_app exists on the new server, with another password and no attributes.
	target.Exec(t, "postgres", "CREATE ROLE rs_app PASSWORD 'other'")
	rep, err := RestoreGlobals(ctx, tcfg, bytes.NewReader(globals.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("globals: %+v", rep)
	if !slices.Contains(rep.Existing, "rs_app") || !slices.Contains(rep.Existing, "postgres") || rep.Self != "postgres" ||
		!slices.Contains(rep.Created, "rs_owner") || !slices.Contains(rep.Created, "Rs Group") || slices.Contains(rep.Created, "rs_ghost") {
		t.Errorf("report %+v", rep)
	}
	for _, q := range roleQueries {
		if want, got := pg.Query(t, "postgres", q), target.Query(t, "postgres", q); got != want || want == "" {
			t.Errorf("%s\nrestored: %q\nwant:     %q", q, got, want)
		}
	}
	if got := target.Query(t, "postgres", "SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'"); got != selfPassword {
		t.Error("the connected superuser's password changed")
	}

	for _, db := range []string{"rs_one", "rs_two"} {
		if err := RestoreDatabase(ctx, tcfg, db, files[db], RestoreOptions{Jobs: 2}); err != nil {
			t.Fatal(err)
		}
		checkRestored(t, target, db, infos[db])
	}
	checkRestoredObjects(t, target)

	t.Run("globals again", func(t *testing.T) { testGlobalsAgain(t, tcfg, globals.Bytes()) })
	t.Run("non-empty", func(t *testing.T) { testNonEmpty(t, target, files["rs_one"], infos["rs_one"]) })
	t.Run("damaged dumps", func(t *testing.T) { testDamaged(t, target, files["rs_one"]) })
	t.Run("damaged globals", func(t *testing.T) { testDamagedGlobals(t, target) })
}

// dumpToFile dumps db into a file, as the restore CLI stages it.
func dumpToFile(t *testing.T, d *Dumper, db string) (string, dump.Info) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), db+".dump"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := d.Dump(context.Background(), db, f)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return f.Name(), info
}

// checkRestored compares db's row counts on target with the dump's and
// each table's content checksum with the source's.
func checkRestored(t *testing.T, target *testenv.Postgres, db string, info dump.Info) {
	t.Helper()
	got, err := CountRows(context.Background(), configOf(target), db)
	if err != nil {
		t.Fatal(err)
	}
	if diffs := engine.CompareCounts(info.Tables, got); len(diffs) > 0 || len(got) == 0 {
		t.Errorf("%s: restored counts differ from the dump's: %q", db, diffs)
	}
	for _, tc := range info.Tables {
		q := `SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM ONLY "` + tc.Schema + `"."` + tc.Table + `" t`
		if want, got := pg.Query(t, db, q), target.Query(t, db, q); got != want {
			t.Errorf("%s.%s.%s: restored %s; want %s", db, tc.Schema, tc.Table, got, want)
		}
	}
	t.Logf("%s: %s", db, counts(got))
}

// checkRestoredObjects checks what row counts do not show: owners,
// sequences, the large object, grants and the restored passwords.
func checkRestoredObjects(t *testing.T, target *testenv.Postgres) {
	t.Helper()
	for q, want := range map[string]string{
		"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'rs_one'":                                                "rs_owner",
		"SELECT tableowner FROM pg_tables WHERE tablename = 'app_owned'":                                                          "rs_app",
		"SELECT nextval('ticket') || ' ' || nextval('statuses_id_seq')":                                                           "135 20001",
		"SELECT encode(lo_get(4242), 'escape') || ' ' || pg_get_userbyid(lomowner) FROM pg_largeobject_metadata WHERE oid = 4242": "a large object rs_app",
		"SELECT has_table_privilege('rs_app', 'statuses', 'SELECT')":                                                              "t",
	} {
		if got := target.Query(t, "rs_one", q); got != want {
			t.Errorf("%s: %q; want %q", q, got, want)
		}
	}
	if got := target.Query(t, "rs_two", `SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'side'`); got != "rs_app" {
		t.Errorf("schema side owned by %q", got)
	}
	// rs_app logs in with the password it had on the source.
	app := configOf(target)
	app.User, app.Password = "rs_app", "app-pw"
	if _, err := CountRows(context.Background(), app, "rs_one"); err != nil {
		t.Errorf("rs_app with its old password: %v", err)
	}
}

func testGlobalsAgain(t *testing.T, cfg Config, globals []byte) {
	rep, err := RestoreGlobals(context.Background(), cfg, bytes.NewReader(globals))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Created) != 0 || !slices.Contains(rep.Existing, "rs_owner") || !slices.Contains(rep.Existing, "Rs Group") {
		t.Errorf("second restore of the globals: %+v", rep)
	}
}

func testNonEmpty(t *testing.T, target *testenv.Postgres, file string, info dump.Info) {
	ctx := context.Background()
	err := RestoreDatabase(ctx, configOf(target), "rs_one", file, RestoreOptions{})
	wantErr(t, err, "pgdump: restore rs_one: the database exists and is not empty (it holds relation public.")
	target.Exec(t, "rs_one", "DELETE FROM statuses WHERE id > 100; INSERT INTO app_owned (v) VALUES ('{}')")
	if err := RestoreDatabase(ctx, configOf(target), "rs_one", file, RestoreOptions{Clean: true, Jobs: 3}); err != nil {
		t.Fatal(err)
	}
	checkRestored(t, target, "rs_one", info)
	// An empty database that exists is restored into.
	target.Exec(t, "postgres", "CREATE DATABASE rs_empty OWNER rs_app")
	if err := RestoreDatabase(ctx, configOf(target), "rs_empty", file, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := target.Query(t, "rs_empty", "SELECT count(*) FROM statuses"); got != "20000" {
		t.Errorf("rs_empty: %s statuses", got)
	}
}

// testDamaged restores a truncated dump and a file that is no dump: both
// fail naming the database and pg_restore's complaint, and leave no
// database behind.
func testDamaged(t *testing.T, target *testenv.Postgres, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name, want string
		data       []byte
	}{
		{"truncated", "pg_restore: error: could not read from input file: end of file", data[:len(data)/2]},
		{"garbage", "pg_restore: error: input file does not appear to be a valid archive", []byte("not a dump\n")},
		{"zero", "read the dump's table of contents", nil},
	} {
		f := filepath.Join(dir, c.name)
		if err := os.WriteFile(f, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		err := RestoreDatabase(context.Background(), configOf(target), "rs_"+c.name, f, RestoreOptions{})
		wantErr(t, err, "pgdump: restore rs_"+c.name+": ")
		wantErr(t, err, c.want)
		if strings.Contains(err.Error(), target.Password) {
			t.Errorf("password in %q", err)
		}
		if c.name == "truncated" {
			wantErr(t, err, "(the database this restore created was dropped again)")
		}
		checkNoDatabase(t, target, "rs_"+c.name)
	}
}

// testDamagedGlobals runs globals that fail after creating a role: nothing
// is left, and the error does not show the password; truncated globals
// run nothing.
func testDamagedGlobals(t *testing.T, target *testenv.Postgres) {
	bad := "CREATE ROLE rs_rollback;\nALTER ROLE rs_rollback WITH LOGIN PASSWORD 'SCRAM-secret-xyzzy' BOGUS;\n--\n" + globalsEnd + "\n--\n"
	_, err := RestoreGlobals(context.Background(), configOf(target), strings.NewReader(bad))
	wantErr(t, err, `psql: exit status 3: psql:<stdin>:2: ERROR:  unrecognized role option "bogus"`)
	wantErr(t, err, `PASSWORD '[redacted]' BOGUS`)
	if strings.Contains(err.Error(), "xyzzy") {
		t.Errorf("password in %q", err)
	}
	_, err = RestoreGlobals(context.Background(), configOf(target), strings.NewReader("CREATE ROLE rs_cut;\n"))
	wantErr(t, err, "pgdump: restore globals: the globals SQL does not end with pg_dumpall's")
	if n := target.Query(t, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname IN ('rs_rollback', 'rs_cut')"); n != "0" {
		t.Errorf("%s roles of failed restores exist", n)
	}
}

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v; want %q", err, want)
	}
	t.Log(err)
}

func checkNoDatabase(t *testing.T, p *testenv.Postgres, db string) {
	t.Helper()
	if n := p.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = '"+db+"'"); n != "0" {
		t.Errorf("database %s exists", db)
	}
}

func TestPlanGlobals(t *testing.T) {
	sql := "CREATE ROLE \"Odd \"\"Name\";\nALTER ROLE \"Odd \"\"Name\" WITH LOGIN;\nCREATE ROLE me;\nALTER ROLE me WITH SUPERUSER PASSWORD 'x';\n" +
		"ALTER ROLE me SET work_mem = '1MB';\nCOMMENT ON ROLE me IS 'it''s\nCREATE ROLE ghost;';\nCREATE ROLE fresh;\n"
	p := planGlobals(sql, map[string]bool{`Odd "Name`: true, "me": true}, "me")
	if !slices.Equal(p.report.Existing, []string{`Odd "Name`, "me"}) || !slices.Equal(p.report.Created, []string{"fresh"}) || p.report.Self != "me" || p.tablespaces {
		t.Errorf("report %+v", p.report)
	}
	if strings.Count(p.sql, "\n") != strings.Count(sql, "\n") || strings.Contains(p.sql, "CREATE ROLE me;") ||
		strings.Contains(p.sql, "PASSWORD 'x'") || !strings.Contains(p.sql, "ALTER ROLE \"Odd \"\"Name\" WITH LOGIN;") ||
		!strings.Contains(p.sql, "SET work_mem") || !strings.Contains(p.sql, "CREATE ROLE ghost;") {
		t.Errorf("planned SQL:\n%s", p.sql)
	}
}
