// Package mysqldump dumps MySQL and MariaDB databases (a WriteFreely blog,
// say) with mariadb-dump, or mysqldump where mariadb-dump is absent, one
// SQL stream per database.
//
// Invariants:
//   - The password reaches every client through an option group written
//     into a pipe, passed as --defaults-extra-file=/dev/fd/3 (always the
//     first option): never through argv, and never in a file, so nothing
//     holding it outlives the process, even one killed with SIGKILL.
//     Inherited MYSQL_* and MARIADB_* variables (MYSQL_PWD, MYSQL_HOST) are
//     dropped, so only the Config decides where a dump connects. The
//     server's and the user's own option files are still read, and a
//     [client] password in ~/.my.cnf is read after ours and wins.
//   - Each database is dumped with --single-transaction (consistent for
//     InnoDB tables, without locking them) --quick --routines --events
//     --triggers --hex-blob --no-tablespaces --default-character-set=utf8mb4,
//     and WITHOUT --databases: the dump holds no CREATE DATABASE or USE, so
//     it restores into a database of any name:
//     mariadb -e 'CREATE DATABASE new' && mariadb new < db.sql.
//   - A dump succeeds only if mariadb-dump exited 0, all its output was
//     written and it ends with the dumper's "-- Dump completed" line; a
//     missing database fails before anything is written, with an error
//     naming it.
//   - Row counts (dump.Info.Tables) are exact COUNT(*)s of every base
//     table, taken in a transaction WITH CONSISTENT SNAPSHOT of mbackup's own
//     just before the dump: MySQL cannot share a snapshot between sessions,
//     so they are not the dump's snapshot. They are counted again after the
//     dump; tables whose counts changed in between (writes during the dump)
//     are named in Info.Notes, and their counts are only approximate.
//   - Restore streams a dump into the client (no staging) and only into a
//     new or empty database, unless Clean, which drops and recreates it so
//     that it holds exactly the dump. It fails when the dump lacks its
//     "-- Dump completed" line, and a database it created is dropped again
//     on failure. Client errors never quote the failing statement (which
//     holds rows): --skip-print-query-on-error, and "near '...'" redacted.
//   - No client command from a dump runs: Restore passes the client no
//     byte before metacmd.MySQL has scanned it, and refuses a dump holding
//     one (\!, system, source, tee, pager...), naming the line; and the
//     client runs with --binary-mode (it parses no command but DELIMITER
//     and \C) and, where it has it (MariaDB 10.6.18, 10.11.8, 11.x),
//     --sandbox, so it refuses a command even if the scan missed one; and
//     with --local-infile=0, so LOAD DATA LOCAL INFILE cannot read a file
//     of the restore host into a table.
//
// The account needs SELECT, SHOW VIEW, TRIGGER, EVENT and LOCK TABLES on the
// databases it dumps (and SHOW DATABASES to find them when Databases is
// empty).
//
// Restoring a dump, as found in the tests: MariaDB's dumper (10.11.8 and
// later) starts with the line "/*M!999999\- enable the sandbox mode */",
// which the mariadb client accepts but Oracle's mysql client and older
// MariaDB clients reject ("Unknown command '\-'"); drop that first line
// (tail -n +2) for them. Triggers, routines and events carry DEFINER=
// the account that created them; restoring them as another account needs
// that account to exist, or the SET USER (MariaDB) / SET_USER_ID (MySQL)
// privilege.
package mysqldump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"mbackup/internal/dump"
)

// Config says how to reach the server. The CLI builds it from config.MySQL
// (Password.Reveal()).
type Config struct {
	// Host is a host name or IP address, or a Unix socket's path (starting
	// with "/"); "" means localhost, which the clients reach through their
	// default socket.
	Host      string
	Port      int    // 0 means 3306
	User      string // "" means the client's default
	Password  string // "" means none
	Databases []string
	// Dumper and Client are the programs to run; "" means mariadb-dump and
	// mariadb from PATH, else mysqldump and mysql.
	Dumper, Client string
}

// systemDatabases are never dumped unless configured by name.
var systemDatabases = map[string]bool{
	"information_schema": true, "performance_schema": true, "mysql": true, "sys": true,
}

// Databases returns cfg.Databases when set, else every database on the
// server except information_schema, performance_schema, mysql and sys,
// sorted by name.
func Databases(ctx context.Context, cfg Config) ([]string, error) {
	if len(cfg.Databases) > 0 {
		return cfg.Databases, nil
	}
	c, err := open(cfg)
	if err != nil {
		return nil, err
	}
	rows, err := c.query(ctx, "SELECT HEX(SCHEMA_NAME) FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
	if err != nil {
		return nil, fmt.Errorf("mysqldump: list databases: %w", err)
	}
	var dbs []string
	for _, r := range rows {
		name, err := unhex(r[0])
		if err != nil {
			return nil, fmt.Errorf("mysqldump: list databases: %w", err)
		}
		if !systemDatabases[name] {
			dbs = append(dbs, name)
		}
	}
	return dbs, nil
}

// Dump writes the SQL dump of db to w and returns its Info: the command,
// the dumper's and the server's versions and the row counts of db's base
// tables (see the package comment for their snapshot). Any error after
// bytes were written means the artifact must be discarded.
func Dump(ctx context.Context, cfg Config, db string, w io.Writer) (dump.Info, error) {
	var info dump.Info
	if db == "" {
		return info, errors.New("mysqldump: dump: empty database name")
	}
	c, err := open(cfg)
	if err != nil {
		return info, err
	}
	if info.Version, err = dump.Output(ctx, exec.CommandContext(ctx, c.dumper, "--version")); err != nil {
		return info, fmt.Errorf("mysqldump: dump %s: %s version: %w", db, filepath.Base(c.dumper), err)
	}
	if info.ServerVersion, err = c.checkDatabase(ctx, db); err != nil {
		return info, fmt.Errorf("mysqldump: dump %s: %w", db, err)
	}
	if info.Tables, err = c.countRows(ctx, db); err != nil {
		return info, fmt.Errorf("mysqldump: dump %s: count rows: %w", db, err)
	}
	cmd, done, err := c.command(ctx, c.dumper, c.dumpArgs(info.Version, db)...)
	if err != nil {
		return info, err
	}
	defer done()
	cmd.Env = dump.BufferedStdout(cmd.Env)
	info.Command = strings.Join(cmd.Args, " ")
	tw := &tailWriter{w: w}
	if err := dump.Run(ctx, cmd, tw, c.password); err != nil {
		return info, fmt.Errorf("mysqldump: dump %s: %w", db, err)
	}
	if !tw.completed() {
		return info, fmt.Errorf("mysqldump: dump %s: %s exited 0 but its output does not end with \"-- Dump completed\": it is incomplete",
			db, filepath.Base(c.dumper))
	}
	after, err := c.countRows(ctx, db)
	if err != nil {
		info.Notes = append(info.Notes, "row counts not checked again after the dump: "+dump.Redact(err.Error(), c.password))
	} else if changed := changedTables(info.Tables, after); len(changed) > 0 {
		info.Notes = append(info.Notes, "rows changed during the dump, so these counts are approximate: "+strings.Join(changed, ", "))
	}
	return info, nil
}

// dumpArgs are the dumper's options after the option file, then db.
func (c *client) dumpArgs(version, db string) []string {
	args := []string{"--single-transaction", "--quick", "--routines", "--events", "--triggers",
		"--hex-blob", "--no-tablespaces", "--default-character-set=utf8mb4"}
	if !strings.Contains(version, "MariaDB") {
		// Oracle's mysqldump would write SET @@GLOBAL.GTID_PURGED on a
		// server with GTIDs, which breaks a restore into another server.
		args = append(args, "--set-gtid-purged=OFF")
	}
	return append(args, "--", db)
}

// client holds the resolved programs and the option text of one call.
type client struct {
	dumper, cli string
	options     string // the [client] group: host, port, user, password
	password    string
}

// open finds the programs and makes the option text.
func open(cfg Config) (*client, error) {
	c := &client{password: cfg.Password, options: optionText(cfg)}
	var err error
	if c.dumper, err = program(cfg.Dumper, "mariadb-dump", "mysqldump"); err != nil {
		return nil, err
	}
	if c.cli, err = program(cfg.Client, "mariadb", "mysql"); err != nil {
		return nil, err
	}
	return c, nil
}

// program returns the configured program, else the first of names in PATH.
func program(configured string, names ...string) (string, error) {
	if configured != "" {
		names = []string{configured}
	}
	for _, n := range names {
		if path, err := exec.LookPath(n); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("mysqldump: %s %w in PATH; install it with: apt-get install -y mariadb-client",
		strings.Join(names, " or "), dump.ErrNotFound)
}

// optionText is a [client] option group for cfg.
func optionText(cfg Config) string {
	var b strings.Builder
	b.WriteString("[client]\n")
	opt := func(k, v string) { fmt.Fprintf(&b, "%s=%s\n", k, optionValue(v)) }
	switch {
	case strings.HasPrefix(cfg.Host, "/"):
		opt("socket", cfg.Host)
		opt("protocol", "SOCKET")
	case cfg.Host != "":
		opt("host", cfg.Host)
	}
	if cfg.Port != 0 {
		opt("port", strconv.Itoa(cfg.Port))
	}
	if cfg.User != "" {
		opt("user", cfg.User)
	}
	if cfg.Password != "" {
		opt("password", cfg.Password)
	}
	return b.String()
}

// optionValue quotes v for an option file: inside double quotes '#' does
// not start a comment, and the clients undo these backslash escapes.
func optionValue(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(v) + `"`
}

// tailKeep is how much of a dump's end tailWriter keeps.
const tailKeep = 256

// tailWriter passes writes through to w and keeps the last tailKeep bytes.
type tailWriter struct {
	w    io.Writer
	tail []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	kept := p[:n]
	if len(kept) >= tailKeep {
		t.tail = append(t.tail[:0], kept[len(kept)-tailKeep:]...)
	} else {
		t.tail = append(t.tail, kept...)
		if over := len(t.tail) - tailKeep; over > 0 {
			t.tail = append(t.tail[:0], t.tail[over:]...)
		}
	}
	return n, err
}

// completed reports whether the last line written is the dumper's
// "-- Dump completed" (followed by " on <date>" unless --skip-dump-date).
func (t *tailWriter) completed() bool {
	s := strings.TrimRight(string(t.tail), "\n")
	return strings.HasPrefix(s[strings.LastIndexByte(s, '\n')+1:], "-- Dump completed")
}

// optionsFD is the descriptor the option text reaches the clients on:
// cmd.ExtraFiles[0].
const optionsFD = 3

// maxOptions is what a pipe holds without a reader (Linux: 64 KiB, and
// never less than a page): the option text is written whole before the
// client starts.
const maxOptions = 4096

// command returns name with the option pipe as its first option, then
// args, in an environment without MYSQL_* and MARIADB_* variables. The
// option text is written into a pipe, whose write end is closed at once:
// the client reads it as /dev/fd/3, and nothing of it is ever on disk.
// done closes the read end; call it once the command has ended (or failed
// to start).
func (c *client) command(ctx context.Context, name string, args ...string) (cmd *exec.Cmd, done func(), err error) {
	if len(c.options) > maxOptions {
		return nil, nil, fmt.Errorf("mysqldump: the client options are longer than %d bytes", maxOptions)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("mysqldump: option pipe: %w", err)
	}
	_, err = w.WriteString(c.options)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("mysqldump: option pipe: %w", err)
	}
	cmd = exec.CommandContext(ctx, name, append([]string{fmt.Sprintf("--defaults-extra-file=/dev/fd/%d", optionsFD)}, args...)...)
	cmd.ExtraFiles = []*os.File{r}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MYSQL_") && !strings.HasPrefix(kv, "MARIADB_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd, func() { r.Close() }, nil
}
