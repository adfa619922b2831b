// Package pgdump dumps PostgreSQL: the cluster's globals (roles, tablespaces)
// with pg_dumpall --globals-only and each database with pg_dump -Fc -Z0.
//
// Invariants:
//   - Each database is dumped inside a snapshot exported by a REPEATABLE READ
//     transaction that mbackup holds open (pg_export_snapshot() and
//     pg_dump --snapshot). The exact row count of every table is counted
//     from the archive's own bytes as they pass to the stream (package
//     rowcount), so the counts describe exactly the dumped data, a restore
//     can be checked against them, and the server reads each table once.
//     count(*) in that same transaction counts only what the archive cannot:
//     the tables of extensions, and every table when the archive is one the
//     counter does not know (Info.Notes then says so).
//   - pg_dump comes from /usr/lib/postgresql/<server major>/bin when present;
//     a client older than the server is refused before anything runs.
//   - The password reaches pg_dump through PGPASSWORD (or the user's
//     PGPASSFILE), never argv; -w makes libpq fail instead of prompting.
//   - Where the role cannot read pg_authid (managed PostgreSQL), globals are
//     dumped with --no-role-passwords and the dump's Info says so.
//
// Restore (RestoreGlobals, RestoreDatabase, CountRows) takes plaintext: the
// caller decrypts. Its invariants:
//   - psql and pg_restore come from the same directory as pg_dump, and the
//     password reaches them through PGPASSWORD only.
//   - Globals run in one transaction (unless they create tablespaces), so
//     a failure changes nothing; roles that already exist are reported, not
//     an error, and get the dump's attributes, password and memberships,
//     except the role the restore connects as, which is left as it is.
//     Truncated globals (no pg_dumpall trailer) run nothing.
//   - No psql meta-command from the globals runs: the SQL is scanned first
//     (metacmd.PSQL) and refused, naming the line, when it holds one other
//     than pg_dumpall's own \restrict/\unrestrict pair, which is replaced
//     by comments; then psql runs it after a \restrict with a random key
//     the SQL cannot know, so psql itself refuses any meta-command. A psql
//     without \restrict (before 13.22, 14.19, 15.14, 16.10, 17.6) runs it
//     with the scan as the only guard, and GlobalsReport.Notes says so.
//   - A database is restored only into a new or empty database unless
//     Clean; a new one is created owned by the dumped database's owner, and
//     dropped again when its restore fails, so a failure leaves nothing.
//   - Errors name the database and carry pg_restore's or psql's stderr tail
//     without passwords, password verifiers or table rows.
//   - Config.Preflight writes nothing: it reads the server's version, its
//     available extensions, its roles and the target database's objects,
//     and runs pg_restore --version, against what the manifest recorded
//     (dump.Info: the source server's version, pg_dump's, the extensions).
//   - With RestoreOptions.Progress, pg_restore runs with --verbose: its
//     progress lines count the entries of the dump's table of contents
//     (pg_restore --list) and name the object at work, with control
//     characters replaced; they stay out of the error's stderr tail.
//   - After the globals, the report lists the roles that can log in and
//     have no password (GlobalsReport.NoPassword), with the statement to
//     set one.
package pgdump

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"mbackup/internal/dump"
)

// Config says how to reach the server.
type Config struct {
	Host      string // host name, IP or Unix socket directory; "" means libpq's default
	Port      int    // 0 means 5432
	User      string // "" means libpq's default
	Password  string // "" means none or PGPASSFILE
	SSLMode   string // libpq sslmode; "" means prefer
	Databases []string
	// BinDir, when set, is where pg_dump and pg_dumpall are taken from.
	BinDir string
	// LockWaitTimeout bounds how long pg_dump waits for a table lock (a
	// migration holding one, say) before failing; 0 means 5 minutes.
	LockWaitTimeout time.Duration
}

// Dumper dumps one PostgreSQL server.
type Dumper struct {
	cfg           Config
	serverVersion string
	serverMajor   int
	pgDump        string
	pgDumpAll     string
	clientVersion string
}

// Open connects once to check the server, then finds a pg_dump at least as
// new as the server.
func Open(ctx context.Context, cfg Config) (*Dumper, error) {
	d, err := openServer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := d.findBinaries(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// openServer connects once to learn the server's version, which decides
// where the client programs are taken from.
func openServer(ctx context.Context, cfg Config) (*Dumper, error) {
	d := &Dumper{cfg: cfg}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var num int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version'), current_setting('server_version_num')::int").Scan(&d.serverVersion, &num); err != nil {
		return nil, fmt.Errorf("pgdump: server version: %w", err)
	}
	d.serverMajor = num / 10000
	return d, nil
}

// ServerVersion is the server's version, such as "15.19".
func (d *Dumper) ServerVersion() string { return d.serverVersion }

// connect opens a connection to db with the configured parameters.
func (d *Dumper) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	pc, err := pgx.ParseConfig(d.dsn(db))
	if err != nil {
		return nil, fmt.Errorf("pgdump: connection settings: %w", err)
	}
	if d.cfg.Password != "" {
		pc.Password = d.cfg.Password
	}
	pc.ConnectTimeout = 30 * time.Second
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pgdump: connect to %s: %s", db, dump.Redact(err.Error(), d.cfg.Password))
	}
	return conn, nil
}

// dsn is a keyword/value connection string without the password.
func (d *Dumper) dsn(db string) string {
	kv := map[string]string{"dbname": db, "host": d.cfg.Host, "user": d.cfg.User, "sslmode": d.cfg.SSLMode, "application_name": "mbackup"}
	if d.cfg.Port != 0 {
		kv["port"] = strconv.Itoa(d.cfg.Port)
	}
	if kv["sslmode"] == "" {
		kv["sslmode"] = "prefer"
	}
	var parts []string
	for _, k := range []string{"host", "port", "user", "dbname", "sslmode", "application_name"} {
		if v := kv[k]; v != "" {
			parts = append(parts, k+"='"+strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v)+"'")
		}
	}
	return strings.Join(parts, " ")
}

// env is the environment of pg_dump and pg_dumpall: libpq variables for
// everything, the password included, and never argv.
func (d *Dumper) env(db string) []string {
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PG") || strings.HasPrefix(e, "PGPASSFILE=") {
			env = append(env, e)
		}
	}
	set := func(k, v string) {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	set("PGHOST", d.cfg.Host)
	if d.cfg.Port != 0 {
		set("PGPORT", strconv.Itoa(d.cfg.Port))
	}
	set("PGUSER", d.cfg.User)
	set("PGPASSWORD", d.cfg.Password)
	set("PGSSLMODE", d.cfg.SSLMode)
	set("PGDATABASE", db)
	set("PGAPPNAME", "mbackup")
	set("PGCONNECT_TIMEOUT", "30")
	return env
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)(\.\d+)?`)

// findBinaries picks pg_dump and pg_dumpall and refuses a client older than
// the server, which pg_dump would refuse anyway, later and less clearly.
func (d *Dumper) findBinaries(ctx context.Context) error {
	var err error
	if d.pgDump, err = d.tool("pg_dump"); err != nil {
		return err
	}
	if d.pgDumpAll, err = d.tool("pg_dumpall"); err != nil {
		return err
	}
	out, err := dump.Output(ctx, exec.CommandContext(ctx, d.pgDump, "--version"))
	if err != nil {
		return fmt.Errorf("pgdump: %w", err)
	}
	m := versionRE.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("pgdump: %s --version printed %q, not a PostgreSQL version", d.pgDump, out)
	}
	d.clientVersion = out
	if major, _ := strconv.Atoi(m[1]); major < d.serverMajor {
		return fmt.Errorf("pgdump: %s is version %d but the server is %s: pg_dump refuses to dump a newer server; "+
			"install postgresql-client-%d (from the PostgreSQL apt repository) or set its directory",
			d.pgDump, major, d.serverVersion, d.serverMajor)
	}
	return nil
}

// tool returns the path of the PostgreSQL client program name: in BinDir
// when set, else in /usr/lib/postgresql/<server major>/bin when present,
// else in PATH.
func (d *Dumper) tool(name string) (string, error) {
	dir := d.cfg.BinDir
	if dir == "" {
		dir = fmt.Sprintf("/usr/lib/postgresql/%d/bin", d.serverMajor)
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		if d.cfg.BinDir != "" {
			return "", fmt.Errorf("pgdump: %s: %w", p, err)
		}
		if p, err = exec.LookPath(name); err != nil {
			return "", fmt.Errorf("pgdump: %s not found: install postgresql-client-%d", name, d.serverMajor)
		}
	}
	return p, nil
}

// Databases returns the configured databases, or else every database that
// is not a template and accepts connections.
func (d *Dumper) Databases(ctx context.Context) ([]string, error) {
	if len(d.cfg.Databases) > 0 {
		return d.cfg.Databases, nil
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY datname")
	if err != nil {
		return nil, fmt.Errorf("pgdump: list databases: %w", err)
	}
	dbs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("pgdump: list databases: %w", err)
	}
	return dbs, nil
}
