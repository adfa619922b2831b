package mysqldump

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"

	"mbackup/internal/artifact"
	conf "mbackup/internal/config"
	"mbackup/internal/dump"
	"mbackup/internal/dump/metacmd"
	"mbackup/internal/engine"
	"mbackup/internal/snapshot"
)

// Engine backs up and restores the mysql component: one SQL dump per
// database.
type Engine struct{}

// Component is mysql.
func (Engine) Component() artifact.Component { return artifact.MySQL }

// Title is MySQL.
func (Engine) Title() string { return "MySQL" }

// RestoreOrder puts MySQL after PostgreSQL, before Redis.
func (Engine) RestoreOrder() int { return 1 }

// FromConfig is the dump configuration of cfg's mysql section.
func FromConfig(c *conf.MySQL) Config {
	return Config{Host: c.Host, Port: c.Port, User: c.User, Password: c.Password.Reveal(), Databases: c.Databases}
}

// Jobs returns one job per database; a server that cannot be reached is
// one failed job.
func (Engine) Jobs(ctx context.Context, cfg *conf.Config) []snapshot.Job {
	if cfg.MySQL == nil {
		return nil
	}
	mc := FromConfig(cfg.MySQL)
	dbs, err := Databases(ctx, mc)
	if err != nil {
		return engine.Failed(artifact.MySQL, err)
	}
	var js []snapshot.Job
	for _, db := range dbs {
		js = append(js, engine.Job(artifact.Ref{Component: artifact.MySQL, Name: db, Kind: artifact.SQL},
			func(ctx context.Context, w io.Writer) (dump.Info, error) { return Dump(ctx, mc, db, w) }))
	}
	return js
}

// Scanner scans every dump, which the client runs.
func (Engine) Scanner(artifact.Ref) io.WriteCloser { return &metacmd.MySQL{} }

// ScratchTarget is the server of a mysql:// or mariadb:// URL; the
// password is the URL's, else $MYSQL_PWD.
func (Engine) ScratchTarget(u *url.URL, port int) (engine.Scratch, bool) {
	if u.Scheme != "mysql" && u.Scheme != "mariadb" {
		return nil, false
	}
	pw, ok := u.User.Password()
	if !ok {
		pw = os.Getenv("MYSQL_PWD")
	}
	return &Config{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: pw}, true
}

// Component is mysql: a Config is the target of a restore.
func (c *Config) Component() artifact.Component { return artifact.MySQL }

// Plan restores a database under its own name.
func (c *Config) Plan(a artifact.Ref, clean bool) (database, does string) {
	if clean {
		return a.Name, fmt.Sprintf("DROP DATABASE %s on %s if it exists, create it again and load the dump", a.Name, c.where())
	}
	return a.Name, fmt.Sprintf("create database %s on %s and load the dump; refused if it exists and is not empty", a.Name, c.where())
}

func (c Config) where() string {
	host, port := c.Host, c.Port
	if host == "" {
		host = "localhost"
	}
	if port == 0 {
		port = 3306
	}
	return fmt.Sprintf("MySQL %s:%d as %s", host, port, c.User)
}

// Check refuses a database that exists and is not empty, unless clean.
func (c *Config) Check(ctx context.Context, _ artifact.Ref, database string, clean bool) error {
	return CheckTarget(ctx, *c, database, clean)
}

// Apply loads the dump, telling opt.Progress the bytes fed to the client,
// and checks its row counts.
func (c *Config) Apply(ctx context.Context, s engine.Staged, opt engine.Options) (engine.Outcome, error) {
	var out engine.Outcome
	f, err := os.Open(s.File)
	if err != nil {
		return out, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return out, err
	}
	r := engine.ProgressReader(f, fi.Size(), opt.Progress)
	if err := Restore(ctx, *c, s.Database, r, RestoreOptions{Clean: opt.Clean}); err != nil {
		return out, err
	}
	out.Restored = true
	got, err := CountRows(ctx, *c, s.Database)
	for i := range got {
		got[i].Schema = s.Artifact.Name // the dump counted under its own name
	}
	out.Tables, err = engine.CheckRows(s.Tables, got, err)
	return out, err
}

// Drop drops a scratch database.
func (c *Config) Drop(ctx context.Context, database string) error {
	return DropDatabase(ctx, *c, database)
}

// TargetFlags registers restore's --mysql-* flags: the server to restore
// into.
func (Engine) TargetFlags(fs *flag.FlagSet) func(engine.Asker) (engine.Target, error) {
	c := engine.Conn{PassEnv: "MYSQL_PWD"}
	fs.StringVar(&c.Host, "mysql-host", "", "MySQL/MariaDB `host`, or socket path (default: the client's socket)")
	fs.IntVar(&c.Port, "mysql-port", 3306, "MySQL/MariaDB `port`")
	fs.StringVar(&c.User, "mysql-user", "root", "MySQL/MariaDB `user` to restore as")
	fs.StringVar(&c.PassFile, "mysql-password-file", "", "`file` holding the MySQL password (default: $MYSQL_PWD)")
	return func(ask engine.Asker) (engine.Target, error) {
		t := c
		err := t.Ask(ask, "MySQL/MariaDB to restore into (an empty host means the local socket)", "  password (empty: none)")
		return &Config{Host: t.Host, Port: t.Port, User: t.User, Password: t.Password}, err
	}
}
