package pgdump

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// forgedGlobals is pg_dumpall output with cmd inserted on its own line
// after the roles, as a forger who can write to the store would.
func forgedGlobals(t *testing.T, cmd string) string {
	t.Helper()
	var out strings.Builder
	if _, err := open(t, superuser()).Globals(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	sql := out.String()
	i := strings.Index(sql, "\n--\n-- User Configurations")
	if i < 0 || !strings.HasPrefix(sql, "--\n-- PostgreSQL database cluster dump\n--\n\n\\restrict ") {
		t.Fatalf("pg_dumpall output not as expected:\n%s", sql)
	}
	return sql[:i+1] + "CREATE ROLE forged_role;\n" + cmd + "\n" + sql[i+1:]
}

// TestGlobalsMetaCommandRefused: globals carrying a psql meta-command are
// refused before psql runs, naming the line; no role is created and the
// command never runs. A \! inside a string or a dollar quote is data.
func TestGlobalsMetaCommandRefused(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	for _, cmd := range []string{
		`\! touch ` + marker,
		`SELECT 1; \! touch ` + marker,
		`\o |touch ` + marker,
		`\unrestrict nope`,
	} {
		_, err := RestoreGlobals(context.Background(), superuser(), strings.NewReader(forgedGlobals(t, cmd)))
		wantErr(t, err, "pgdump: restore globals: the globals SQL holds line ")
		wantErr(t, err, "meta-command")
		wantErr(t, err, "nothing was run")
		if _, serr := os.Stat(marker); serr == nil {
			t.Fatalf("%q ran: the marker exists", cmd)
		}
		if n := pg.Query(t, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'forged_role'"); n != "0" {
			t.Fatalf("%q: forged_role was created", cmd)
		}
	}
	// Data that looks like a command is not one.
	for _, cmd := range []string{
		`COMMENT ON ROLE forged_role IS 'see \! touch ` + marker + `';`,
		`DO $x$ BEGIN PERFORM '\! touch ` + marker + `'; END $x$;`,
	} {
		if _, err := RestoreGlobals(context.Background(), superuser(), strings.NewReader(forgedGlobals(t, cmd))); err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
		pg.Exec(t, "postgres", "DROP ROLE forged_role")
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the marker exists")
	}
}

// TestRestrictHolds bypasses the scanner: psql itself, inside mbackup's
// \restrict, refuses a meta-command, and the transaction is rolled back.
func TestRestrictHolds(t *testing.T) {
	d, err := openServer(context.Background(), superuser())
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "pwned")
	for sql, want := range map[string]string{
		"CREATE ROLE bypass_role;\n\\! touch " + marker + "\n":                     "psql:<stdin>:2: error: backslash commands are restricted",
		"CREATE ROLE bypass_role;\n\\unrestrict guess\n\\! touch " + marker + "\n": "psql:<stdin>:2: error: \\unrestrict: wrong key",
	} {
		note, err := d.runGlobals(context.Background(), sql, false)
		wantErr(t, err, want)
		if note != "" {
			t.Errorf("note %q with psql 15.14 or later", note)
		}
		if _, serr := os.Stat(marker); serr == nil {
			t.Fatal("psql ran the command: the marker exists")
		}
		if n := pg.Query(t, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'bypass_role'"); n != "0" {
			t.Fatal("bypass_role was created")
		}
	}
}

func TestHasRestrict(t *testing.T) {
	for v, want := range map[string]bool{
		"psql (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)": true, "psql (PostgreSQL) 15.13": false,
		"psql (PostgreSQL) 17.6": true, "psql (PostgreSQL) 16.9": false, "psql (PostgreSQL) 18.0": true,
		"psql (PostgreSQL) 12.22": false, "psql (PostgreSQL) 13.22": true, "psql (PostgreSQL) 14.18": false,
		"psql (PostgreSQL) 19devel": true, "psql": false,
	} {
		if got := hasRestrict(v); got != want {
			t.Errorf("hasRestrict(%q) = %v", v, got)
		}
	}
}
