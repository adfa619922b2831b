package pgdump

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"mbackup/internal/dump"
)

// Globals writes pg_dumpall --globals-only: roles with their attributes and
// memberships, tablespaces, and per-role settings.
func (d *Dumper) Globals(ctx context.Context, w io.Writer) (dump.Info, error) {
	args := []string{"--globals-only", "-w"}
	info := dump.Info{Version: d.clientVersion, ServerVersion: d.serverVersion}
	readable, err := d.canReadAuthID(ctx)
	if err != nil {
		return info, err
	}
	if !readable {
		args = append(args, "--no-role-passwords")
		info.Notes = append(info.Notes, "role passwords not dumped: this role cannot read pg_authid (managed PostgreSQL); set them again after a restore")
	}
	cmd := exec.CommandContext(ctx, d.pgDumpAll, args...)
	cmd.Env = d.env("postgres")
	info.Command = strings.Join(cmd.Args, " ")
	if err := dump.Run(ctx, cmd, w, d.cfg.Password); err != nil {
		return info, fmt.Errorf("pgdump: globals: %w", err)
	}
	return info, nil
}

func (d *Dumper) canReadAuthID(ctx context.Context) (bool, error) {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT')").Scan(&ok); err != nil {
		return false, fmt.Errorf("pgdump: globals: %w", err)
	}
	return ok, nil
}

// Dump writes pg_dump -Fc -Z0 of db, taken in a snapshot this function
// exports and holds, and counts every table's rows in that snapshot.
func (d *Dumper) Dump(ctx context.Context, db string, w io.Writer) (dump.Info, error) {
	info := dump.Info{Version: d.clientVersion, ServerVersion: d.serverVersion}
	conn, err := d.connect(ctx, db)
	if err != nil {
		return info, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return info, fmt.Errorf("pgdump: dump %s: begin: %w", db, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var snap string
	if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snap); err != nil {
		return info, fmt.Errorf("pgdump: dump %s: export snapshot: %w", db, err)
	}
	if info.Extensions, err = extensions(ctx, tx); err != nil {
		return info, fmt.Errorf("pgdump: dump %s: list extensions: %w", db, err)
	}
	err = tx.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()").Scan(&info.Owner)
	if err != nil {
		return info, fmt.Errorf("pgdump: dump %s: owner: %w", db, err)
	}
	lock := d.cfg.LockWaitTimeout
	if lock == 0 {
		lock = 5 * time.Minute
	}
	cmd := exec.CommandContext(ctx, d.pgDump, "-Fc", "-Z0", "-w", "--snapshot="+snap,
		fmt.Sprintf("--lock-wait-timeout=%d", lock.Milliseconds()))
	cmd.Env = d.env(db)
	info.Command = strings.Join(cmd.Args, " ") + " (PGDATABASE=" + db + ")"

	var wg sync.WaitGroup
	var countErr error
	countCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() { info.Tables, countErr = countRows(countCtx, tx) })
	runErr := dump.Run(ctx, cmd, w, d.cfg.Password)
	if runErr != nil {
		cancel()
	}
	wg.Wait()
	switch {
	case runErr != nil:
		return info, fmt.Errorf("pgdump: dump %s: %w", db, runErr)
	case countErr != nil:
		return info, fmt.Errorf("pgdump: dump %s: count rows: %w", db, countErr)
	}
	return info, nil
}

// extensions lists the extensions of the database, which a restore needs
// on its target: plpgsql always, so a dump that records them never has
// none.
func extensions(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, "SELECT extname FROM pg_extension ORDER BY 1")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// countTable counts one table inside a savepoint: an error (a table this
// role may not read) must not abort the transaction, which would drop the
// exported snapshot before pg_dump may have imported it.
func countTable(ctx context.Context, tx pgx.Tx, t dump.TableCount) (int64, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	q := "SELECT count(*) FROM ONLY " + pgx.Identifier{t.Schema, t.Table}.Sanitize()
	if err := sp.QueryRow(ctx, q).Scan(&n); err != nil {
		sp.Rollback(ctx)
		return 0, err
	}
	return n, sp.Commit(ctx)
}

// countRows counts the rows of every ordinary table (partitions included,
// partitioned parents not, since their rows are their partitions') outside
// the system schemas.
func countRows(ctx context.Context, tx pgx.Tx) ([]dump.TableCount, error) {
	rows, err := tx.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
		ORDER BY 1, 2`)
	if err != nil {
		return nil, err
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dump.TableCount, error) {
		var t dump.TableCount
		return t, r.Scan(&t.Schema, &t.Table)
	})
	if err != nil {
		return nil, err
	}
	for i, t := range tables {
		if tables[i].Rows, err = countTable(ctx, tx, t); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t.Schema, t.Table, err)
		}
	}
	return tables, nil
}

// CanReadRolePasswords reports whether the role may read pg_authid;
// without it, Globals dumps the roles without their passwords.
func (d *Dumper) CanReadRolePasswords(ctx context.Context) (bool, error) {
	return d.canReadAuthID(ctx)
}

// ClientVersion is the version line of the pg_dump that Dump runs.
func (d *Dumper) ClientVersion() string { return d.clientVersion }
