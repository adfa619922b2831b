package mysqldump

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"mbackup/internal/dump"
)

// query runs sql (one or more statements) through the client and returns
// the rows of its result sets, tab-separated fields split. The session's
// sql_mode is cleared first, so that literal() quotes correctly even on a
// server set to NO_BACKSLASH_ESCAPES.
func (c *client) query(ctx context.Context, sql string) ([][]string, error) {
	cmd, done, err := c.command(ctx, c.cli, "--batch", "--skip-column-names", "--default-character-set=utf8mb4")
	if err != nil {
		return nil, err
	}
	defer done()
	cmd.Stdin = strings.NewReader("SET SESSION sql_mode = '';\n" + sql)
	var out bytes.Buffer
	if err := dump.Run(ctx, cmd, &out, c.password); err != nil {
		return nil, err
	}
	var rows [][]string
	for line := range strings.Lines(out.String()) {
		rows = append(rows, strings.Split(strings.TrimSuffix(line, "\n"), "\t"))
	}
	return rows, nil
}

// checkDatabase returns the server's version, failing if db does not exist.
func (c *client) checkDatabase(ctx context.Context, db string) (string, error) {
	rows, err := c.query(ctx, "SELECT VERSION(), COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = "+literal(db)+";\n")
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	if len(rows) != 1 || len(rows[0]) != 2 {
		return "", fmt.Errorf("server version: unexpected answer %q", rows)
	}
	if rows[0][1] == "0" {
		return "", fmt.Errorf("database %q does not exist on the server (or this user may not see it)", db)
	}
	return rows[0][0], nil
}

// countRows counts the rows of every base table of db, in one consistent
// snapshot.
func (c *client) countRows(ctx context.Context, db string) ([]dump.TableCount, error) {
	rows, err := c.query(ctx, "SELECT HEX(TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = "+
		literal(db)+" AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY TABLE_NAME;\n")
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	tables := make([]dump.TableCount, len(rows))
	var sql strings.Builder
	sql.WriteString("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;\n" +
		"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;\n")
	for i, r := range rows {
		name, err := unhex(r[0])
		if err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		tables[i] = dump.TableCount{Schema: db, Table: name}
		fmt.Fprintf(&sql, "SELECT COUNT(*) FROM %s.%s;\n", ident(db), ident(name))
	}
	sql.WriteString("COMMIT;\n")
	counts, err := c.query(ctx, sql.String())
	if err != nil {
		return nil, err
	}
	if len(counts) != len(tables) {
		return nil, fmt.Errorf("%d counts for %d tables", len(counts), len(tables))
	}
	for i, r := range counts {
		if tables[i].Rows, err = strconv.ParseInt(r[0], 10, 64); err != nil {
			return nil, fmt.Errorf("count of %s: %w", tables[i].Table, err)
		}
	}
	return tables, nil
}

// changedTables names the tables whose counts differ between before and
// after, or that appeared or disappeared.
func changedTables(before, after []dump.TableCount) []string {
	rows := make(map[string]int64, len(before))
	for _, t := range before {
		rows[t.Table] = t.Rows
	}
	var changed []string
	for _, t := range after {
		if n, ok := rows[t.Table]; !ok || n != t.Rows {
			changed = append(changed, t.Table)
		}
		delete(rows, t.Table)
	}
	for _, t := range before {
		if _, gone := rows[t.Table]; gone {
			changed = append(changed, t.Table)
		}
	}
	return changed
}

// literal quotes s as an SQL string, with backslash escapes (query clears
// sql_mode, so they apply).
func literal(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`).Replace(s) + "'"
}

// ident quotes s as an identifier.
func ident(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}

func unhex(s string) (string, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("bad name %q from the server", s)
	}
	return string(b), nil
}
