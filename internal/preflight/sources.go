package preflight

import (
	"context"
	"errors"
	"fmt"
	"time"

	"strings"

	"mbackup/internal/config"
	"mbackup/internal/explain"
	"mbackup/internal/human"
	"mbackup/internal/mysqldump"
	"mbackup/internal/pgdump"
	"mbackup/internal/redisdump"
	"mbackup/internal/storage"
	"mbackup/internal/storage/s3"
)

// postgres connects as the backup does, lists the databases and, when
// the globals are backed up, whether the role passwords can be read.
func postgres(ctx context.Context, p *config.Postgres) []Result {
	r := &results{what: fmt.Sprintf("postgres %s:%d as %s", orLocal(p.Host), p.Port, p.User)}
	d, err := pgdump.Open(ctx, pgdump.FromConfig(p))
	if err != nil {
		r.explained(err, explain.Postgres)
		return r.rs
	}
	dbs, err := d.Databases(ctx)
	if err != nil {
		r.explained(err, explain.Postgres)
		return r.rs
	}
	r.ok(fmt.Sprintf("server %s, %s; databases %s", d.ServerVersion(), d.ClientVersion(), strings.Join(dbs, ", ")))
	if !p.Globals {
		return r.rs
	}
	if ok, err := d.CanReadRolePasswords(ctx); err != nil {
		r.explained(err, explain.Postgres)
	} else if !ok {
		r.warn("cannot read pg_authid", "the globals will hold the roles without their passwords "+
			"(back up as a superuser to include them; set them again by hand after a restore otherwise)")
	}
	return r.rs
}

// redis reads a whole RDB, as the backup does, and drops it.
func redis(ctx context.Context, i int, c config.Redis) []Result {
	r := &results{what: "redis " + c.Name}
	start := time.Now()
	n := &countWriter{}
	info, err := redisdump.Dump(ctx, redisdump.Config{Name: c.Name, URL: c.URL, Password: c.Password.Reveal()}, n)
	if err != nil {
		r.explained(err, explain.Redis(i))
		return r.rs
	}
	r.ok(fmt.Sprintf("server %s; SYNC permitted: an RDB of %s read in %s", info.ServerVersion, human.Bytes(n.n), human.Duration(time.Since(start))))
	return r.rs
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// mysql lists the databases and counts the rows of the first.
func mysql(ctx context.Context, m *config.MySQL) []Result {
	r := &results{what: fmt.Sprintf("mysql %s:%d as %s", orLocal(m.Host), m.Port, m.User)}
	c := mysqldump.FromConfig(m)
	dbs, err := mysqldump.Databases(ctx, c)
	if err != nil {
		r.explained(err, explain.MySQL)
		return r.rs
	}
	if len(dbs) == 0 {
		r.warn("reachable, but it holds no database to back up (the system databases are never dumped)", "")
		return r.rs
	}
	if _, err := mysqldump.CountRows(ctx, c, dbs[0]); err != nil {
		x := explain.Of(err, explain.MySQL)
		r.fail(fmt.Sprintf("reach database %s: %s", dbs[0], x.Cause), x.Fix+"; the user needs SELECT on the databases it backs up")
		return r.rs
	}
	r.ok("databases " + strings.Join(dbs, ", "))
	return r.rs
}

// mediaFix is what to look at when the media bucket cannot be listed.
const mediaFix = "check media.source.endpoint, region and bucket, and that access_key_id and secret_access_key " +
	"may list it (S3_ENDPOINT, S3_BUCKET, AWS_ACCESS_KEY_ID in .env.production)"

// errFound stops a listing at its first object.
var errFound = errors.New("found")

// media lists the media bucket up to its first object.
func media(ctx context.Context, m *config.Media) []Result {
	src := m.Source
	r := &results{what: fmt.Sprintf("media source %s bucket %s", src.Endpoint, src.Bucket)}
	host, secure, err := config.ParseEndpoint(src.Endpoint)
	if err != nil {
		r.fail(err.Error(), "set media.source.endpoint to a host name or an https:// URL, as S3_ENDPOINT in .env.production")
		return r.rs
	}
	s, err := s3.New(ctx, s3.Config{Endpoint: host, DisableTLS: !secure, Region: src.Region, Bucket: src.Bucket,
		AccessKeyID: src.AccessKeyID, SecretAccessKey: src.SecretAccessKey.Reveal()})
	if err != nil {
		r.fail(err.Error(), mediaFix)
		return r.rs
	}
	first := ""
	err = s.List(ctx, "", func(o storage.Object) error { first = o.Key; return errFound })
	switch {
	case err != nil && !errors.Is(err, errFound):
		r.fail("list: "+err.Error(), mediaFix)
	case first == "":
		r.warn("listable, but empty", "is this the bucket Mastodon writes to (S3_BUCKET)?")
	default:
		r.ok("listable")
	}
	if !secure {
		r.warn("plain HTTP", "use https:// for a bucket outside this host")
	}
	return r.rs
}

func orLocal(host string) string {
	if host == "" {
		return "localhost"
	}
	return host
}
