package draft

import (
	"context"
	"fmt"
	"os/user"
	"strconv"
	"strings"

	"mbackup/internal/mysqldump"
	"mbackup/internal/pgdump"
	"mbackup/internal/redisdump"
)

// Local is where quickstart looks for the services of this machine, and
// the passwords to reach them with ("" for none).
type Local struct {
	PGHost, PGUser, PGPassword          string // PGUser "": this user, then postgres
	PGPort                              int
	RedisURL, RedisPassword             string
	MySQLHost, MySQLUser, MySQLPassword string // MySQLUser "": this user
	MySQLPort                           int
}

// Probe is what the probe of one service found.
type Probe struct {
	Service string // PostgreSQL, Redis or MySQL
	Summary string // what answered, when Err is nil
	Err     error  // why the service is left out
	// section writes the service's configuration and records its secret.
	section func(b *doc, d *Draft) error
}

// ProbeLocal tries each service of l, in the order PostgreSQL, Redis,
// MySQL, and returns one Probe for each. A password goes into the draft
// (as a secret file) only for a service that answered.
func ProbeLocal(ctx context.Context, l Local) []Probe {
	return []Probe{probePostgres(ctx, l), probeRedis(ctx, l), probeMySQL(ctx, l)}
}

func probePostgres(ctx context.Context, l Local) Probe {
	p := Probe{Service: "PostgreSQL"}
	users := []string{l.PGUser}
	if l.PGUser == "" {
		users = []string{currentUser(), "postgres"}
	}
	var firstErr error
	for _, u := range users {
		dbs, version, err := pgDatabases(ctx, pgdump.Config{Host: l.PGHost, Port: l.PGPort, User: u, Password: l.PGPassword, SSLMode: "prefer"})
		if err != nil {
			firstErr = cmpErr(firstErr, err)
			continue
		}
		p.Summary = fmt.Sprintf("found %s at %s as %s, databases: %s", version, l.PGHost, u, strings.Join(dbs, ", "))
		p.section = pgSection(l.PGHost, l.PGPort, u, l.PGPassword)
		return p
	}
	p.Err = fmt.Errorf("%w\n%13s(run quickstart as a user PostgreSQL lets in, such as sudo -u postgres, or set PGPASSWORD and --pg-user)", firstErr, "")
	return p
}

// pgDatabases connects as cfg says and lists the databases.
func pgDatabases(ctx context.Context, cfg pgdump.Config) (dbs []string, version string, err error) {
	d, err := pgdump.Open(ctx, cfg)
	if err != nil {
		return nil, "", err
	}
	dbs, err = d.Databases(ctx)
	return dbs, d.ServerVersion(), err
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func probeRedis(ctx context.Context, l Local) Probe {
	p := Probe{Service: "Redis"}
	v, err := redisdump.ServerVersion(ctx, redisdump.Config{Name: "main", URL: l.RedisURL, Password: l.RedisPassword})
	if err != nil {
		p.Err = err
		return p
	}
	p.Summary = fmt.Sprintf("found %s at %s", v, l.RedisURL)
	p.section = redisSection(l.RedisURL, l.RedisPassword)
	return p
}

func probeMySQL(ctx context.Context, l Local) Probe {
	p := Probe{Service: "MySQL"}
	u := l.MySQLUser
	if u == "" {
		u = currentUser()
	}
	dbs, err := mysqldump.Databases(ctx, mysqldump.Config{Host: l.MySQLHost, Port: l.MySQLPort, User: u, Password: l.MySQLPassword})
	if err != nil {
		p.Err = err
		return p
	}
	p.Summary = fmt.Sprintf("found at %s as %s, databases: %s", l.MySQLHost, u, strings.Join(dbs, ", "))
	p.section = mysqlSection(l.MySQLHost, l.MySQLPort, u, l.MySQLPassword)
	return p
}

// pgSection writes the postgres section of a server that answered.
func pgSection(host string, port int, user, password string) func(*doc, *Draft) error {
	return serverSection("postgres", "pg.pass", "PostgreSQL password", host, port, user, password)
}

// mysqlSection writes the mysql section of a server that answered.
func mysqlSection(host string, port int, user, password string) func(*doc, *Draft) error {
	return serverSection("mysql", "mysql.pass", "MySQL password", host, port, user, password)
}

// serverSection writes the section of a database server: host, port,
// user and the password's file.
func serverSection(section, file, what, host string, port int, user, password string) func(*doc, *Draft) error {
	return func(b *doc, d *Draft) error {
		if err := checkValues(section, "host", host, "user", user); err != nil {
			return err
		}
		b.line(section+":", "")
		b.line("  host: "+quote(host), "")
		b.line("  port: "+strconv.Itoa(port), "")
		b.line("  user: "+quote(user), "")
		passwordFile(b, d, "  ", file, what, password)
		return nil
	}
}

// redisSection writes the redis list of the server that answered.
func redisSection(url, password string) func(*doc, *Draft) error {
	return func(b *doc, d *Draft) error {
		if err := checkValues("redis", "url", url); err != nil {
			return err
		}
		b.line("redis:", "")
		b.line("  - name: main", "")
		b.line("    url: "+quote(url), "")
		passwordFile(b, d, "    ", "redis.pass", "Redis main password", password)
		return nil
	}
}

// passwordFile writes the password_file line of a password, if any.
func passwordFile(b *doc, d *Draft, indent, name, what, password string) {
	if password != "" {
		b.line(indent+"password_file: "+d.addSecret(name, what, password), "")
	}
}

// checkValues checks name, value pairs of a section with validText.
func checkValues(section string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := validText(section+"."+pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}
