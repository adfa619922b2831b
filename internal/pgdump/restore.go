package pgdump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"mbackup/internal/dump"
	"mbackup/internal/engine"
)

// RestoreOptions tune RestoreDatabase.
type RestoreOptions struct {
	// Jobs is pg_restore -j, the number of parallel connections; 0 means 2.
	Jobs int
	// Clean allows restoring into a database that is not empty: pg_restore
	// --clean --if-exists drops each object of the dump before creating it
	// again. Objects the dump does not hold are left in place.
	Clean bool
	// Progress, when set, is told the entries of the dump's table of
	// contents done of its total, and the table being loaded or the
	// object being created (pg_restore --verbose, whose progress lines
	// stay out of the error's stderr tail).
	Progress func(engine.Progress)
}

// dropTimeout bounds dropping a database whose restore failed, which
// happens after ctx may have been cancelled.
const dropTimeout = time.Minute

// RestoreDatabase restores the custom-format dump in dumpFile (pg_dump -Fc,
// as Dumper.Dump writes it, staged on disk by the caller: pg_restore -j
// needs a seekable file) into database db, with pg_restore -j Jobs
// --exit-on-error, connected as cfg.User (a superuser, or the owner of
// everything in the dump).
//
// The dump's table of contents is read first (pg_restore --list), so a
// file that is not a dump fails before anything changes. When db does not
// exist it is created from template0, in the server's default encoding and
// locale, owned by the role that owned the dumped database: that role must
// exist, so restore the globals first. The dump's database-level settings
// (ALTER DATABASE ... SET, its GRANTs) are not restored. When db exists it
// must be empty (no relation, function, type, extension other than plpgsql,
// schema other than public or large object) unless opt.Clean.
//
// When the restore fails (a truncated or damaged file, an error in a
// statement) and this call created db, db is dropped again, so a failed
// restore leaves nothing behind and can simply be retried; a database that
// existed before is left as pg_restore left it, partly restored. Errors
// carry the tail of pg_restore's stderr, without passwords or table rows.
func RestoreDatabase(ctx context.Context, cfg Config, db, dumpFile string, opt RestoreOptions) error {
	if db == "" {
		return errors.New("pgdump: restore: empty database name")
	}
	op := "restore " + db
	d, err := openServer(ctx, cfg)
	if err != nil {
		return restoreErr(op, err)
	}
	pgRestore, err := d.tool("pg_restore")
	if err != nil {
		return restoreErr(op, err)
	}
	if strings.HasPrefix(dumpFile, "-") {
		dumpFile = "./" + dumpFile
	}
	owner, toc, err := d.readTOC(ctx, pgRestore, dumpFile)
	if err != nil {
		return restoreErr(op, err)
	}
	created, err := d.prepareDatabase(ctx, db, owner, opt.Clean)
	if err != nil {
		return restoreErr(op, err)
	}
	jobs := opt.Jobs
	if jobs <= 0 {
		jobs = 2
	}
	args := []string{"-w", "--exit-on-error", "-j", strconv.Itoa(jobs), "-d", "dbname=" + quoteConninfo(db)}
	if opt.Clean {
		args = append(args, "--clean", "--if-exists")
	}
	var watch func(string) bool
	if opt.Progress != nil {
		args = append(args, "--verbose")
		watch = (&tocProgress{toc: toc, report: opt.Progress}).line
	}
	cmd := exec.CommandContext(ctx, pgRestore, append(args, dumpFile)...)
	cmd.Env = d.env(db)
	if err := dump.RunWatch(ctx, cmd, io.Discard, watch, d.cfg.Password); err != nil {
		err = redactSQL(err)
		if created {
			if derr := d.dropDatabase(ctx, db); derr != nil {
				err = fmt.Errorf("%w; and dropping the half-restored database failed: %w", err, derr)
			} else {
				err = fmt.Errorf("%w (the database this restore created was dropped again)", err)
			}
		}
		return restoreErr(op, err)
	}
	engine.Report(opt.Progress, engine.Progress{Done: int64(len(toc)), Total: int64(len(toc)), Unit: engine.Items})
	return nil
}

// readTOC reads the dump's table of contents: the ids of its entries, and
// the owner of the dumped database, from its DATABASE entry, which
// pg_restore lists with --create: "<id>; 1262 <oid> DATABASE - <dbname>
// <owner>".
func (d *Dumper) readTOC(ctx context.Context, pgRestore, file string) (string, map[string]bool, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, pgRestore, "--list", "--create", file)
	if err := dump.Run(ctx, cmd, &out, d.cfg.Password); err != nil {
		return "", nil, fmt.Errorf("read the dump's table of contents: %w", err)
	}
	var dbname, owner string
	ids := map[string]bool{}
	for line := range strings.Lines(out.String()) {
		line = strings.TrimSuffix(line, "\n")
		if v, ok := strings.CutPrefix(line, ";     dbname: "); ok {
			dbname = v
			continue
		}
		if strings.HasPrefix(line, ";") {
			continue
		}
		if id, _, ok := strings.Cut(line, "; "); ok {
			ids[id] = true
		}
		_, entry, ok := strings.Cut(line, " DATABASE - ")
		if !ok || dbname == "" || owner != "" {
			continue
		}
		if o, ok := strings.CutPrefix(entry, dbname+" "); ok && o != "" {
			owner = o
		}
	}
	if owner == "" {
		return "", nil, errors.New("the dump's table of contents has no DATABASE entry naming its owner: not a pg_dump -Fc archive of a whole database")
	}
	return owner, ids, nil
}

// prepareDatabase creates db owned by owner when it does not exist, and
// reports whether it did; an existing db must be empty unless clean.
func (d *Dumper) prepareDatabase(ctx context.Context, db, owner string, clean bool) (bool, error) {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists, ownerExists bool
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1),
		EXISTS (SELECT FROM pg_roles WHERE rolname = $2)`, db, owner).Scan(&exists, &ownerExists)
	if err != nil {
		return false, fmt.Errorf("look for the database: %w", err)
	}
	if exists {
		if clean {
			return false, nil
		}
		return false, d.checkEmpty(ctx, db)
	}
	if !ownerExists {
		return false, fmt.Errorf("role %q, which owned the dumped database, does not exist: restore the globals first", owner)
	}
	sql := "CREATE DATABASE " + pgx.Identifier{db}.Sanitize() + " OWNER " + pgx.Identifier{owner}.Sanitize() + " TEMPLATE template0"
	if _, err := conn.Exec(ctx, sql); err != nil {
		return false, fmt.Errorf("create database: %w", err)
	}
	return true, nil
}

// CheckTarget fails when RestoreDatabase of db would be refused for what
// the server holds: db exists and is not empty, without clean. A restore
// checks every target this way before its first step.
func CheckTarget(ctx context.Context, cfg Config, db string, clean bool) error {
	d := &Dumper{cfg: cfg}
	if err := d.checkTarget(ctx, db, clean); err != nil {
		return restoreErr("check database "+db, err)
	}
	return nil
}

// userSchema is true for the schemas a dump restores into.
const userSchema = `n.nspname NOT IN ('pg_catalog', 'information_schema')
	AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'`

// objectsQuery lists a few of the objects that make a database non-empty.
const objectsQuery = `SELECT what FROM (
	SELECT 'relation ' || format('%I.%I', n.nspname, c.relname) AS what FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ` + userSchema + `
	UNION ALL SELECT 'function ' || format('%I.%I', n.nspname, p.proname) FROM pg_proc p
		JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ` + userSchema + `
	UNION ALL SELECT 'type ' || format('%I.%I', n.nspname, t.typname) FROM pg_type t
		JOIN pg_namespace n ON n.oid = t.typnamespace WHERE ` + userSchema + ` AND t.typtype IN ('d', 'e', 'r', 'm')
	UNION ALL SELECT 'schema ' || format('%I', n.nspname) FROM pg_namespace n WHERE ` + userSchema + ` AND n.nspname <> 'public'
	UNION ALL SELECT 'extension ' || format('%I', extname) FROM pg_extension WHERE extname <> 'plpgsql'
	UNION ALL SELECT 'large object ' || oid FROM pg_largeobject_metadata
) o LIMIT 4`

// checkEmpty fails when db holds anything a restore would collide with.
func (d *Dumper) checkEmpty(ctx context.Context, db string) error {
	conn, err := d.connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, objectsQuery)
	if err != nil {
		return fmt.Errorf("check that the database is empty: %w", err)
	}
	objects, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("check that the database is empty: %w", err)
	}
	if len(objects) == 0 {
		return nil
	}
	if len(objects) == 4 {
		objects[3] = "more"
	}
	return fmt.Errorf("%w (it holds %s): restore into a new database, "+
		"or drop this one, or restore with the clean option to drop and recreate the dump's objects in it", engine.ErrNotEmpty, strings.Join(objects, ", "))
}

// dropDatabase drops db after a failed restore, even when ctx is done.
func (d *Dumper) dropDatabase(ctx context.Context, db string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dropTimeout)
	defer cancel()
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	sql := "DROP DATABASE IF EXISTS " + pgx.Identifier{db}.Sanitize()
	if d.serverMajor >= 13 {
		sql += " WITH (FORCE)" // pg_restore's killed workers may linger a moment
	}
	_, err = conn.Exec(ctx, sql)
	return err
}

// quoteConninfo quotes a libpq connection string value.
func quoteConninfo(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// CountRows counts, with count(*), the rows of every table of db that
// Dumper.Dump records (the same list, in one REPEATABLE READ transaction),
// to check a restore against the counts of the dump's dump.Info.Tables.
func CountRows(ctx context.Context, cfg Config, db string) ([]dump.TableCount, error) {
	d := &Dumper{cfg: cfg}
	conn, err := d.connect(ctx, db)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("pgdump: count rows %s: begin: %w", db, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	tables, err := countRows(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("pgdump: count rows %s: %w", db, err)
	}
	return tables, nil
}

// DropDatabase drops db when it exists, forcing its connections closed
// (PostgreSQL 13 and later): the scratch databases of a restore drill.
func DropDatabase(ctx context.Context, cfg Config, db string) error {
	d, err := openServer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("pgdump: drop database %s: %w", db, err)
	}
	if err := d.dropDatabase(ctx, db); err != nil {
		return fmt.Errorf("pgdump: drop database %s: %s", db, dump.Redact(err.Error(), cfg.Password))
	}
	return nil
}
