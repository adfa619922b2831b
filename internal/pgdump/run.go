package pgdump

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"mbackup/internal/dump"
	"mbackup/internal/pgdump/rowcount"
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
	cmd.Env = dump.BufferedStdout(d.env("postgres"))
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
// exports and holds, and counts every table's rows from the archive as it
// passes (see tableCounts).
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
	cmd.Env = dump.BufferedStdout(d.env(db))
	info.Command = strings.Join(cmd.Args, " ") + " (PGDATABASE=" + db + ")"

	tables, err := listTables(ctx, tx)
	if err != nil {
		return info, fmt.Errorf("pgdump: dump %s: list tables: %w", db, err)
	}
	counter := rowcount.New()
	if err := dump.Run(ctx, cmd, &tee{w: w, c: counter}, d.cfg.Password); err != nil {
		return info, fmt.Errorf("pgdump: dump %s: %w", db, err)
	}
	if info.Tables, info.Notes, err = tableCounts(ctx, tx, tables, counter); err != nil {
		return info, fmt.Errorf("pgdump: dump %s: count rows: %w", db, err)
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

// countRows counts the rows of every table listTables lists, with
// count(*): the restore's check of a restored database.
func countRows(ctx context.Context, tx pgx.Tx) ([]dump.TableCount, error) {
	tables, err := listTables(ctx, tx)
	if err != nil {
		return nil, err
	}
	out := make([]dump.TableCount, len(tables))
	for i, t := range tables {
		if out[i], err = countStar(ctx, tx, t.TableCount); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CanReadRolePasswords reports whether the role may read pg_authid;
// without it, Globals dumps the roles without their passwords.
func (d *Dumper) CanReadRolePasswords(ctx context.Context) (bool, error) {
	return d.canReadAuthID(ctx)
}

// ClientVersion is the version line of the pg_dump that Dump runs.
func (d *Dumper) ClientVersion() string { return d.clientVersion }
