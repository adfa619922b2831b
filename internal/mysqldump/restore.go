package mysqldump

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"mbackup/internal/dump"
	"mbackup/internal/dump/metacmd"
	"mbackup/internal/engine"
)

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// Clean allows restoring into a database that is not empty: it is
	// dropped and created again, with its default character set and
	// collation, before the dump is loaded, so it ends up holding exactly
	// the dump. Privileges granted on it survive (MySQL and MariaDB keep
	// them when a database is dropped).
	Clean bool
}

// dropTimeout bounds dropping a database whose restore failed, which
// happens after ctx may have been cancelled.
const dropTimeout = time.Minute

// Restore loads the SQL dump read from r (as Dump writes it: no CREATE
// DATABASE, no USE) into database db with the mariadb (or mysql) client,
// streaming: nothing is staged.
//
// A db that does not exist is created (CHARACTER SET utf8mb4; the dump's
// tables carry their own character sets). A db that exists must be empty
// (no table, view, sequence, routine or event) unless opt.Clean, which
// drops and recreates it first. The dump must end with the dumper's
// "-- Dump completed" line: a truncated dump fails even when every
// statement it held ran. When the load fails and this call created db
// (or recreated it, with Clean), db is dropped again, so a failed restore
// leaves no half-restored database behind; with Clean the old contents are
// gone all the same. Triggers, routines and events keep their DEFINER:
// that account must exist, or cfg.User needs SET USER (see the package
// comment). The line that turns on the MariaDB client's sandbox mode is
// dropped for Oracle's mysql client, which rejects it.
func Restore(ctx context.Context, cfg Config, db string, r io.Reader, opt RestoreOptions) error {
	if db == "" {
		return errors.New("mysqldump: restore: empty database name")
	}
	c, err := open(cfg)
	if err != nil {
		return err
	}
	created, err := c.prepareDatabase(ctx, db, opt.Clean)
	if err != nil {
		return fmt.Errorf("mysqldump: restore %s: %w", db, err)
	}
	err = c.load(ctx, db, r)
	if err != nil && created {
		if derr := c.dropDatabase(ctx, db); derr != nil {
			err = fmt.Errorf("%w; and dropping the half-restored database failed: %w", err, derr)
		} else {
			err = fmt.Errorf("%w (the database this restore created was dropped again)", err)
		}
	}
	if err != nil {
		return fmt.Errorf("mysqldump: restore %s: %w", db, err)
	}
	return nil
}

// load scans the dump for client commands as it feeds it to the client
// (see feed), and checks that it was complete. A chunk holding a command
// is never passed on.
func (c *client) load(ctx context.Context, db string, r io.Reader) error {
	scan := &scanReader{r: r}
	tw := &tailWriter{w: io.Discard}
	in := &readErr{r: io.TeeReader(scan, tw)}
	err := c.feed(ctx, db, in)
	switch {
	case scan.refusal != nil:
		return fmt.Errorf("the dump holds %w: refused", scan.refusal)
	case in.err != nil:
		// The client ran what it got, then choked on the cut statement.
		return fmt.Errorf("read the dump: %w", in.err)
	case err != nil:
		return err
	}
	if !tw.completed() {
		return errors.New("the dump does not end with the dumper's \"-- Dump completed\" line: it is truncated")
	}
	return nil
}

// feed runs the client on the SQL read from r in database db, with
// --binary-mode (no client command but DELIMITER and \\C is parsed) and,
// where the client has it, --sandbox (none that runs a program or touches
// a file is allowed), and --local-infile=0.
func (c *client) feed(ctx context.Context, db string, r io.Reader) error {
	args, mariadb, err := c.loadArgs(ctx, db)
	if err != nil {
		return err
	}
	if !mariadb {
		r = dropSandboxLine(r)
	}
	cmd, done, err := c.command(ctx, c.cli, args...)
	if err != nil {
		return err
	}
	defer done()
	cmd.Stdin = r
	if err := dump.Run(ctx, cmd, io.Discard, c.password); err != nil {
		return redactNear(err)
	}
	return nil
}

// loadArgs are the client's options for loading a dump into db, and
// whether the client is MariaDB's.
func (c *client) loadArgs(ctx context.Context, db string) (args []string, mariadb bool, err error) {
	version, err := dump.Output(ctx, exec.CommandContext(ctx, c.cli, "--version"))
	if err != nil {
		return nil, false, fmt.Errorf("%s version: %w", filepath.Base(c.cli), err)
	}
	// --local-infile=0: LOAD DATA LOCAL INFILE would have the client read
	// a file of the restore host (an identity, say) into a table.
	args = []string{"--batch", "--binary-mode", "--local-infile=0", "--default-character-set=utf8mb4", "--database=" + db}
	if help, err := dump.Output(ctx, exec.CommandContext(ctx, c.cli, "--no-defaults", "--help")); err == nil && strings.Contains(help, "--sandbox") {
		args = append(args, "--sandbox")
	}
	mariadb = strings.Contains(version, "MariaDB")
	if mariadb {
		// It would print the failing statement, rows and all, in its error.
		args = append(args, "--skip-print-query-on-error")
	}
	return args, mariadb, nil
}

// scanReader passes on what r reads once metacmd.MySQL has found no
// client command in it, and fails with the refusal instead: a byte is
// passed on only when the scanner has decided on it.
type scanReader struct {
	r       io.Reader
	scan    metacmd.MySQL
	held    []byte // read, not passed on yet
	passed  int64
	buf     []byte
	eof     bool
	err     error
	refusal error // the scanner's, also in err
}

func (s *scanReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if s.err != nil {
			return 0, s.err
		}
		if ready := int(s.scan.Scanned() - s.passed); ready > 0 {
			n := copy(p, s.held[:ready])
			s.held = s.held[n:]
			s.passed += int64(n)
			return n, nil
		}
		if s.eof {
			return 0, io.EOF
		}
		if len(s.buf) < len(p) {
			s.buf = make([]byte, max(len(p), 512))
		}
		n, err := s.r.Read(s.buf[:len(p)])
		s.held = append(s.held, s.buf[:n]...)
		if _, serr := s.scan.Write(s.buf[:n]); serr != nil {
			s.err, s.refusal = serr, serr
			continue
		}
		switch {
		case err == io.EOF:
			s.eof = true
			s.err = s.scan.Close()
			s.refusal = s.err
		case err != nil:
			s.err = err
		}
	}
}

// readErr records the error, other than io.EOF, that reading r ended with.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// dropSandboxLine returns r without its first line when that line is
// metacmd.SandboxLine (followed by blanks: mariadb-dump writes a space).
func dropSandboxLine(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	head, _ := br.Peek(128)
	if n := metacmd.SandboxLen(head); n > 0 {
		br.Discard(n)
	}
	return br
}

// prepareDatabase creates db when it does not exist, or drops and creates
// it again when clean; it reports whether it (re)created it. An existing
// db must be empty unless clean.
func (c *client) prepareDatabase(ctx context.Context, db string, clean bool) (bool, error) {
	st, err := c.state(ctx, db)
	if err != nil {
		return false, err
	}
	create := "CREATE DATABASE " + ident(db) + " CHARACTER SET utf8mb4;\n"
	if st.exists {
		if st.empty() {
			return false, nil
		}
		if !clean {
			return false, st.notEmpty()
		}
		create = "DROP DATABASE " + ident(db) + ";\nCREATE DATABASE " + ident(db) +
			" CHARACTER SET " + ident(st.charset) + " COLLATE " + ident(st.collation) + ";\n"
	}
	if _, err := c.query(ctx, create); err != nil {
		return false, fmt.Errorf("create database: %w", err)
	}
	return true, nil
}

// dbState is what a database holds, as far as a restore cares.
type dbState struct {
	exists                   bool
	charset, collation       string
	tables, routines, events string
}

func (s dbState) empty() bool { return s.tables == "0" && s.routines == "0" && s.events == "0" }

func (s dbState) notEmpty() error {
	return fmt.Errorf("%w (%s tables and views, %s routines, %s events): "+
		"restore into a new database, or drop this one, or restore with the clean option to drop and recreate it",
		engine.ErrNotEmpty, s.tables, s.routines, s.events)
}

// state reads whether db exists and what it holds.
func (c *client) state(ctx context.Context, db string) (dbState, error) {
	lit := literal(db)
	rows, err := c.query(ctx, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME,"+
		" (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = "+lit+"),"+
		" (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = "+lit+"),"+
		" (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = "+lit+")"+
		" FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = "+lit+";\n")
	if err != nil {
		return dbState{}, fmt.Errorf("connect: %w", err)
	}
	if len(rows) != 1 || len(rows[0]) != 5 {
		return dbState{}, nil
	}
	r := rows[0]
	return dbState{true, r[0], r[1], r[2], r[3], r[4]}, nil
}

// CheckTarget fails when Restore of db would be refused for what the
// server holds, or cannot run: the client program is missing, the server
// does not answer, db exists and is not empty (without clean). A restore
// checks every target this way before its first step. Errors name the
// server.
func CheckTarget(ctx context.Context, cfg Config, db string, clean bool) error {
	c, err := open(cfg)
	if err != nil {
		return err
	}
	st, err := c.state(ctx, db)
	switch {
	case err != nil:
		return fmt.Errorf("mysqldump: check database %s on %s: %w: check the server's address, port, user and password",
			db, cfg.where(), err)
	case st.exists && !clean && !st.empty():
		return fmt.Errorf("mysqldump: check database %s on %s: %w", db, cfg.where(), st.notEmpty())
	}
	return nil
}

// dropDatabase drops db after a failed restore, even when ctx is done.
func (c *client) dropDatabase(ctx context.Context, db string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dropTimeout)
	defer cancel()
	_, err := c.query(ctx, "DROP DATABASE IF EXISTS "+ident(db)+";\n")
	return err
}

// nearSQL matches the SQL a server error quotes ("... near 'INSERT INTO
// ... VALUES (...)' at line 5"), which may hold table rows.
var nearSQL = regexp.MustCompile(`(?s)near '.*' at line (\d+)`)

// redactNear removes the quoted SQL from a client error.
func redactNear(err error) error {
	msg := nearSQL.ReplaceAllString(err.Error(), "near [statement redacted] at line $1")
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// CountRows counts the rows of every base table of db the way Dump does,
// to check a restore against the dump's dump.Info.Tables. Each count's
// Schema is db.
func CountRows(ctx context.Context, cfg Config, db string) ([]dump.TableCount, error) {
	c, err := open(cfg)
	if err != nil {
		return nil, err
	}
	tables, err := c.countRows(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("mysqldump: count rows %s: %w", db, err)
	}
	return tables, nil
}

// DropDatabase drops db when it exists: the scratch databases of a restore
// drill.
func DropDatabase(ctx context.Context, cfg Config, db string) error {
	c, err := open(cfg)
	if err != nil {
		return err
	}
	if err := c.dropDatabase(ctx, db); err != nil {
		return fmt.Errorf("mysqldump: drop database %s: %w", db, err)
	}
	return nil
}
