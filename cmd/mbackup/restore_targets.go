package main

import (
	"fmt"
	"os"
	"strings"

	"mbackup/internal/artifact"
	"mbackup/internal/engine"
	"mbackup/internal/mysqldump"
	"mbackup/internal/pgdump"
	"mbackup/internal/redisdump"
	"mbackup/internal/restore"
)

// askTargets sets the targets of the selected components from the flags,
// asking for each value in guided mode with the flag as its default.
func (r *restorer) askTargets(only []string) error {
	var err error
	pgWanted, myWanted := restore.Wants(r.m, only, artifact.Postgres), restore.Wants(r.m, only, artifact.MySQL)
	for _, c := range []struct {
		wanted bool
		ask    func() (engine.Target, error)
	}{{pgWanted, r.postgresTarget}, {myWanted, r.mysqlTarget}, {restore.Wants(r.m, only, artifact.Redis), r.redisTarget}} {
		if !c.wanted {
			continue
		}
		t, err := c.ask()
		if err != nil {
			return err
		}
		r.targets = append(r.targets, t)
	}
	if r.p != nil && (pgWanted || myWanted) && !r.f.clean {
		r.f.clean, err = r.p.yesNo("Databases that exist and are not empty are refused. Restore over them instead "+
			"(DROPS and recreates the dump's objects; MySQL: the whole database)?", false)
	}
	return err
}

func (r *restorer) postgresTarget() (engine.Target, error) {
	f := r.f
	c := &pgdump.Config{Host: f.pgHost, Port: f.pgPort, User: f.pgUser, SSLMode: f.pgSSLMode}
	t := conn{c.Host, c.Port, c.User, ""}
	err := r.askConn(&t, "PostgreSQL to restore into (a superuser; an empty host means the local socket)",
		"  password (empty: none, or ~/.pgpass)", f.pgPassFile, "PGPASSWORD")
	c.Host, c.Port, c.User, c.Password = t.host, t.port, t.user, t.password
	return c, err
}

func (r *restorer) mysqlTarget() (engine.Target, error) {
	f := r.f
	t := conn{f.myHost, f.myPort, f.myUser, ""}
	err := r.askConn(&t, "MySQL/MariaDB to restore into (an empty host means the local socket)",
		"  password (empty: none)", f.myPassFile, "MYSQL_PWD")
	return &mysqldump.Config{Host: t.host, Port: t.port, User: t.user, Password: t.password}, err
}

// conn is a database server to restore into.
type conn struct {
	host     string
	port     int
	user     string
	password string
}

// askConn takes the password from passFile or envVar, and in guided mode
// asks for host, port, user and (when neither gave one) the password, with
// the flags' values as defaults.
func (r *restorer) askConn(c *conn, title, pwQuestion, passFile, envVar string) error {
	pw, given, err := password(passFile, envVar)
	if err != nil {
		return err
	}
	c.password = pw
	if r.p == nil {
		return nil
	}
	fmt.Fprintln(r.e.stdout, "\n"+title+":")
	if c.host, err = r.p.line("  host", c.host); err != nil {
		return err
	}
	if c.port, err = r.p.number("  port", c.port); err != nil {
		return err
	}
	if c.user, err = r.p.line("  user", c.user); err != nil {
		return err
	}
	if !given {
		c.password, err = r.p.secret(pwQuestion)
	}
	return err
}

func (r *restorer) redisTarget() (engine.Target, error) {
	t := &redisdump.Target{Dir: r.f.redisDir, File: r.f.redisFile}
	if r.p == nil {
		return t, nil
	}
	fmt.Fprintln(r.e.stdout, "\nRedis: the RDB file is written into the data directory of a stopped server, which loads it when it starts.")
	var err error
	if t.Dir, err = r.p.line("  data directory (\"dir\" in redis.conf)", t.Dir); err != nil {
		return nil, err
	}
	t.File, err = r.p.line("  file name (\"dbfilename\")", t.File)
	return t, err
}

// password reads a password file, else the environment variable; given
// says whether either was set.
func password(file, envVar string) (string, bool, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", false, fmt.Errorf("password file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), true, nil
	}
	v, ok := os.LookupEnv(envVar)
	return v, ok, nil
}
