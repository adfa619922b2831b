package pgdump

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"mbackup/internal/dump"
	"mbackup/internal/pgdump/rowcount"
)

// catalogTable is a table whose rows the manifest records, and whether it
// belongs to an extension.
type catalogTable struct {
	dump.TableCount
	extension bool
}

// listTables lists every ordinary table (partitions included, partitioned
// parents not, since their rows are their partitions') outside the system
// schemas: the tables whose rows a dump records and a restore checks.
// It reads the catalog only.
func listTables(ctx context.Context, tx pgx.Tx) ([]catalogTable, error) {
	rows, err := tx.Query(ctx, `SELECT n.nspname, c.relname,
		  EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
		    AND d.objid = c.oid AND d.deptype = 'e')
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
		ORDER BY 1, 2`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (catalogTable, error) {
		var t catalogTable
		return t, r.Scan(&t.Schema, &t.Table, &t.extension)
	})
}

// tableCounts returns the rows of every table in tables: those the archive
// holds counted from its own bytes (counter), with count(*) in the dump's
// snapshot (tx) only for the tables the stream cannot count:
//   - a table of an extension, whose rows CREATE EXTENSION makes on a
//     restore, and of which pg_dump writes only the rows the extension
//     marked (pg_extension_config_dump's filter), if any;
//   - a table the archive has no TABLE DATA entry for.
//
// An archive the counter cannot read (a pg_dump newer than it knows)
// counts every table with count(*), and a note says why.
func tableCounts(ctx context.Context, tx pgx.Tx, tables []catalogTable, counter *rowcount.Counter) ([]dump.TableCount, []string, error) {
	counter.Close()
	streamed, err := counter.Result()
	var notes []string
	if err != nil {
		notes = append(notes, fmt.Sprintf("row counts taken with count(*), a second read of every table: %v", err))
	}
	rows := make(map[[2]string]int64, len(streamed))
	for _, t := range streamed {
		rows[[2]string{t.Schema, t.Table}] = t.Rows
	}
	out := make([]dump.TableCount, len(tables))
	for i, t := range tables {
		n, ok := rows[[2]string{t.Schema, t.Table}]
		if ok && !t.extension {
			out[i] = dump.TableCount{Schema: t.Schema, Table: t.Table, Rows: n}
			continue
		}
		if out[i], err = countStar(ctx, tx, t.TableCount); err != nil {
			return nil, notes, err
		}
	}
	return out, notes, nil
}

// countStar counts one table with count(*) inside a savepoint: an error
// (a table this role may not read) must not abort the transaction.
func countStar(ctx context.Context, tx pgx.Tx, t dump.TableCount) (dump.TableCount, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return t, err
	}
	q := "SELECT count(*) FROM ONLY " + pgx.Identifier{t.Schema, t.Table}.Sanitize()
	if err := sp.QueryRow(ctx, q).Scan(&t.Rows); err != nil {
		sp.Rollback(ctx)
		return t, fmt.Errorf("%s.%s: %w", t.Schema, t.Table, err)
	}
	return t, sp.Commit(ctx)
}

// tee writes to w, then hands the very same bytes to the row counter: no
// copy between them.
type tee struct {
	w io.Writer
	c *rowcount.Counter
}

func (t *tee) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.c.Write(p[:n])
	return n, err
}

// teeBuffer is how much of pg_dump's output is read at once: reads of a
// pipe return what it holds, up to this.
const teeBuffer = 1 << 20

// ReadFrom reads r in teeBuffer reads (io.Copy's are 32 KiB).
func (t *tee) ReadFrom(r io.Reader) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{t}, r, make([]byte, teeBuffer))
}
