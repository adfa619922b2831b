package pgdump

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"mbackup/internal/artifact"
	"mbackup/internal/config"
	"mbackup/internal/dump"
	"mbackup/internal/dump/metacmd"
	"mbackup/internal/engine"
	"mbackup/internal/snapshot"
)

// Engine backs up and restores the postgres component: the globals
// (postgres/globals, SQL) and one pg_dump -Fc per database.
type Engine struct{}

// Component is postgres.
func (Engine) Component() artifact.Component { return artifact.Postgres }

// Title is PostgreSQL.
func (Engine) Title() string { return "PostgreSQL" }

// RestoreOrder puts PostgreSQL first.
func (Engine) RestoreOrder() int { return 0 }

// FromConfig is the dump configuration of cfg's postgres section.
func FromConfig(c *config.Postgres) Config {
	return Config{Host: c.Host, Port: c.Port, User: c.User, Password: c.Password.Reveal(),
		SSLMode: c.SSLMode, Databases: c.Databases}
}

// Jobs returns the globals' job (when configured), then one job per
// database; a server that cannot be reached is one failed job.
func (Engine) Jobs(ctx context.Context, cfg *config.Config) []snapshot.Job {
	c := cfg.Postgres
	if c == nil {
		return nil
	}
	d, err := Open(ctx, FromConfig(c))
	if err != nil {
		return engine.Failed(artifact.Postgres, err)
	}
	dbs, err := d.Databases(ctx)
	if err != nil {
		return engine.Failed(artifact.Postgres, err)
	}
	var js []snapshot.Job
	if c.Globals {
		js = append(js, engine.Job(globals, d.Globals))
	}
	for _, db := range dbs {
		js = append(js, engine.Job(artifact.Ref{Component: artifact.Postgres, Name: db, Kind: artifact.Dump},
			func(ctx context.Context, w io.Writer) (dump.Info, error) { return d.Dump(ctx, db, w) }))
	}
	return js
}

// globals is the artifact of the cluster's roles and tablespaces.
var globals = artifact.Ref{Component: artifact.Postgres, Name: "globals", Kind: artifact.SQL}

// isGlobals tells the globals artifact from a database's.
func isGlobals(a artifact.Ref) bool { return a == globals }

// Scanner scans the globals, which psql runs.
func (Engine) Scanner(a artifact.Ref) io.WriteCloser {
	if isGlobals(a) {
		return &metacmd.PSQL{}
	}
	return nil
}

// ScratchTarget is the server of a postgres:// or postgresql:// URL; the
// password is the URL's, else $PGPASSWORD.
func (Engine) ScratchTarget(u *url.URL, port int) (engine.Scratch, bool) {
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, false
	}
	pw, ok := u.User.Password()
	if !ok {
		pw = os.Getenv("PGPASSWORD")
	}
	return &Config{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: pw, SSLMode: u.Query().Get("sslmode")}, true
}

// Component is postgres: a Config is the target of a restore.
func (c *Config) Component() artifact.Component { return artifact.Postgres }

// Plan restores a database under its own name.
func (c *Config) Plan(a artifact.Ref, clean bool) (database, does string) {
	if isGlobals(a) {
		return "", fmt.Sprintf("create the dump's roles on %s; roles that exist get the dump's attributes, passwords "+
			"and memberships (except %s, the role restoring)", c.where(), c.User)
	}
	if clean {
		return a.Name, fmt.Sprintf("pg_restore --clean into database %s on %s (created if missing): "+
			"DROPS and recreates every object of the dump in it", a.Name, c.where())
	}
	return a.Name, fmt.Sprintf("create database %s on %s (owned as in the dump) and pg_restore into it; "+
		"refused if it exists and is not empty", a.Name, c.where())
}

func (c *Config) where() string {
	return fmt.Sprintf("PostgreSQL %s:%d as %s", orDefault(c.Host, "localhost"), orZero(c.Port, 5432), c.User)
}

// Check refuses a database that exists and is not empty, unless clean.
func (c *Config) Check(ctx context.Context, a artifact.Ref, database string, clean bool) error {
	if isGlobals(a) {
		return nil
	}
	return CheckTarget(ctx, *c, database, clean)
}

// Apply runs the globals through psql, or pg_restores a database and
// checks its row counts.
func (c *Config) Apply(ctx context.Context, s engine.Staged, opt engine.Options) (engine.Outcome, error) {
	var out engine.Outcome
	if isGlobals(s.Artifact) {
		f, err := os.Open(s.File)
		if err != nil {
			return out, err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return out, err
		}
		g, err := RestoreGlobals(ctx, *c, engine.ProgressReader(f, fi.Size(), opt.Progress))
		out.Restored, out.Detail, out.Notes = err == nil, &g, g.lines()
		return out, err
	}
	if err := RestoreDatabase(ctx, *c, s.Database, s.File, RestoreOptions{Jobs: opt.Jobs, Clean: opt.Clean, Progress: opt.Progress}); err != nil {
		return out, err
	}
	out.Restored = true
	got, err := CountRows(ctx, *c, s.Database)
	out.Tables, err = engine.CheckRows(s.Tables, got, err)
	return out, err
}

// Drop drops a scratch database.
func (c *Config) Drop(ctx context.Context, database string) error {
	return DropDatabase(ctx, *c, database)
}

// lines are the report's lines about the roles.
func (g *GlobalsReport) lines() []string {
	out := []string{fmt.Sprintf("roles created: %s; existing, given the dump's attributes: %s; left as they are: %s",
		listOrNone(g.Created), listOrNone(without(g.Existing, g.Self)), listOrNone([]string{g.Self}))}
	for _, n := range g.Notes {
		out = append(out, "postgres/globals: "+n)
	}
	if len(g.NoPassword) > 0 {
		out = append(out, fmt.Sprintf("postgres/globals: %d roles can log in but have no password (a managed PostgreSQL's dump "+
			"holds none): fine for one that connects by peer or trust authentication (Mastodon's on the local socket, often); "+
			"for one that connects with a password, set it before starting what uses it:", len(g.NoPassword)))
		for _, r := range g.NoPassword {
			out = append(out, "  "+SetPassword(r))
		}
	}
	return out
}

func listOrNone(s []string) string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// without returns s without v.
func without(s []string, v string) []string {
	var out []string
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func orZero(n, d int) int {
	if n == 0 {
		return d
	}
	return n
}

// TargetFlags registers restore's --pg-* flags: the server to restore
// into, as a superuser.
func (Engine) TargetFlags(fs *flag.FlagSet) func(engine.Asker) (engine.Target, error) {
	c := engine.Conn{PassEnv: "PGPASSWORD"}
	var sslMode string
	fs.StringVar(&c.Host, "pg-host", "", "PostgreSQL `host` or socket directory (default: libpq's, usually /var/run/postgresql)")
	fs.IntVar(&c.Port, "pg-port", 5432, "PostgreSQL `port`")
	fs.StringVar(&c.User, "pg-user", "postgres", "PostgreSQL superuser (`role`) to restore as")
	fs.StringVar(&sslMode, "pg-sslmode", "prefer", "PostgreSQL sslmode (`mode`: disable, prefer, require, verify-full...)")
	fs.StringVar(&c.PassFile, "pg-password-file", "", "`file` holding the PostgreSQL password (default: $PGPASSWORD, else ~/.pgpass)")
	return func(ask engine.Asker) (engine.Target, error) {
		t := c
		err := t.Ask(ask, "PostgreSQL to restore into (a superuser; an empty host means the local socket)",
			"  password (empty: none, or ~/.pgpass)")
		return &Config{Host: t.Host, Port: t.Port, User: t.User, Password: t.Password, SSLMode: sslMode}, err
	}
}
