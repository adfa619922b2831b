package main

import (
	"context"
	"io"
	"slices"

	"mbackup/internal/config"
	"mbackup/internal/dump"
	"mbackup/internal/mysqldump"
	"mbackup/internal/pgdump"
	"mbackup/internal/redisdump"
	"mbackup/internal/snapshot"
)

// components are the parts of a snapshot, in the order they are taken.
var components = []string{"postgres", "redis", "mysql"}

// jobs returns the jobs of every configured component in only (all when
// only is empty). A component whose server cannot be reached becomes one
// failed job, so the others still run.
func jobs(ctx context.Context, cfg *config.Config, only []string) []snapshot.Job {
	want := func(c string) bool { return len(only) == 0 || slices.Contains(only, c) }
	var js []snapshot.Job
	if cfg.Postgres != nil && want("postgres") {
		js = append(js, postgresJobs(ctx, cfg.Postgres)...)
	}
	if want("redis") {
		for _, r := range cfg.Redis {
			js = append(js, redisJob(r))
		}
	}
	if cfg.MySQL != nil && want("mysql") {
		js = append(js, mysqlJobs(ctx, cfg.MySQL)...)
	}
	return js
}

func redisJob(r config.Redis) snapshot.Job {
	c := redisdump.Config{Name: r.Name, URL: r.URL, Password: r.Password.Reveal()}
	return snapshot.Job{Component: "redis", Name: r.Name, Ext: ".rdb",
		Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) { return redisdump.Dump(ctx, c, w) }}
}

func mysqlConfig(c *config.MySQL) mysqldump.Config {
	return mysqldump.Config{Host: c.Host, Port: c.Port, User: c.User, Password: c.Password.Reveal(), Databases: c.Databases}
}

func mysqlJobs(ctx context.Context, c *config.MySQL) []snapshot.Job {
	mc := mysqlConfig(c)
	dbs, err := mysqldump.Databases(ctx, mc)
	if err != nil {
		return []snapshot.Job{{Component: "mysql", Name: "server", Err: err}}
	}
	var js []snapshot.Job
	for _, db := range dbs {
		js = append(js, snapshot.Job{Component: "mysql", Name: db, Ext: ".sql",
			Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) { return mysqldump.Dump(ctx, mc, db, w) }})
	}
	return js
}

func postgresJobs(ctx context.Context, c *config.Postgres) []snapshot.Job {
	d, err := pgdump.Open(ctx, pgdump.Config{
		Host: c.Host, Port: c.Port, User: c.User, Password: c.Password.Reveal(),
		SSLMode: c.SSLMode, Databases: c.Databases,
	})
	if err != nil {
		return []snapshot.Job{{Component: "postgres", Name: "server", Err: err}}
	}
	dbs, err := d.Databases(ctx)
	if err != nil {
		return []snapshot.Job{{Component: "postgres", Name: "server", Err: err}}
	}
	var js []snapshot.Job
	if c.Globals {
		js = append(js, snapshot.Job{Component: "postgres", Name: "globals", Ext: ".sql", Produce: d.Globals})
	}
	for _, db := range dbs {
		js = append(js, snapshot.Job{Component: "postgres", Name: db, Ext: ".dump",
			Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) { return d.Dump(ctx, db, w) }})
	}
	return js
}
