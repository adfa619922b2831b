package pgdump

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"mbackup/internal/dump"
	"mbackup/internal/dump/metacmd"
)

// GlobalsReport says what RestoreGlobals did with the roles of the dump,
// each list in the dump's order.
type GlobalsReport struct {
	// Created are the roles the restore created, with the dump's
	// attributes, password, settings and memberships.
	Created []string
	// Existing are the dump's roles that already existed on the server.
	// Their CREATE ROLE was skipped; their attributes, password, settings
	// and memberships were applied from the dump all the same (ALTER ROLE,
	// GRANT), except for Self's attributes.
	Existing []string
	// Self is the role the restore connected as, when the dump holds it
	// (the bootstrap superuser "postgres", usually). Its ALTER ROLE ...
	// WITH line was skipped: the restore never changes the password or the
	// attributes of the role it runs as, so it cannot lock the admin out or
	// take away its own superuser.
	Self string
	// NoPassword are the dump's roles that can log in but have no
	// password after the restore (a managed PostgreSQL's dump has none;
	// see Dumper.Globals): each needs ALTER ROLE ... PASSWORD (see
	// SetPassword) before its application can connect with one.
	NoPassword []string
	// Notes are what the restore could not do as usual: a psql without
	// \restrict, say.
	Notes []string
}

// SetPassword is the statement that gives role a password, with the
// password left for the operator to fill in.
func SetPassword(role string) string {
	return "ALTER ROLE " + pgx.Identifier{role}.Sanitize() + " PASSWORD '...';"
}

// maxGlobals bounds the globals SQL, which is read whole before anything
// runs: a cluster's roles and tablespaces take kilobytes.
const maxGlobals = 64 << 20

// globalsEnd is the comment pg_dumpall writes last: without it the file
// is truncated.
const globalsEnd = "-- PostgreSQL database cluster dump complete"

// RestoreGlobals runs the pg_dumpall --globals-only SQL read from r through
// psql (from the same directory as pg_dump, see Open), connected to the
// postgres database as cfg.User, who must be a superuser.
//
// The SQL is read whole first: a file without pg_dumpall's final comment
// is refused before anything runs. The roles that already exist are read
// from pg_roles; their "CREATE ROLE name;" lines are turned into comments,
// which keeps the line numbers of psql's errors, and reported as Existing
// (see GlobalsReport). Everything else runs with ON_ERROR_STOP=1 in a
// single transaction, so any other error (a role created between the check
// and the restore, a grantor that does not exist) fails the restore and
// changes nothing. CREATE TABLESPACE cannot run in a transaction: globals
// that hold tablespaces run statement by statement, and a failure leaves
// the statements before it applied. Running RestoreGlobals twice is safe.
func RestoreGlobals(ctx context.Context, cfg Config, r io.Reader) (GlobalsReport, error) {
	sql, err := readGlobals(r)
	if err != nil {
		return GlobalsReport{}, restoreErr("restore globals", err)
	}
	if sql, err = CheckGlobals(sql); err != nil {
		return GlobalsReport{}, restoreErr("restore globals", err)
	}
	d, err := openServer(ctx, cfg)
	if err != nil {
		return GlobalsReport{}, restoreErr("restore globals", err)
	}
	existing, self, err := d.roles(ctx)
	if err != nil {
		return GlobalsReport{}, restoreErr("restore globals", err)
	}
	plan := planGlobals(sql, existing, self)
	note, err := d.runGlobals(ctx, plan.sql, plan.tablespaces)
	if err != nil {
		return GlobalsReport{}, restoreErr("restore globals", err)
	}
	if note != "" {
		plan.report.Notes = append(plan.report.Notes, note)
	}
	roles := without(append(slices.Clone(plan.report.Created), plan.report.Existing...), self)
	if plan.report.NoPassword, err = d.passwordless(ctx, roles); err != nil {
		plan.report.Notes = append(plan.report.Notes, "which roles have no password was not checked: "+err.Error())
	}
	return plan.report, nil
}

// passwordless returns those of roles that can log in and have no
// password, in roles' order.
func (d *Dumper) passwordless(ctx context.Context, roles []string) ([]string, error) {
	if len(roles) == 0 {
		return nil, nil
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT r FROM unnest($1::text[]) WITH ORDINALITY AS u(r, i)
		JOIN pg_authid a ON a.rolname = u.r WHERE a.rolcanlogin AND a.rolpassword IS NULL ORDER BY i`, roles)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// CheckGlobals scans globals SQL for psql meta-commands (see
// metacmd.PSQL) and returns it with pg_dumpall's own \restrict and
// \unrestrict lines turned into comments, which keeps the line numbers.
func CheckGlobals(sql string) (string, error) {
	var scan metacmd.PSQL
	scan.Write([]byte(sql))
	if err := scan.Close(); err != nil {
		return "", fmt.Errorf("the globals SQL holds %w: refused, nothing was run", err)
	}
	restrict, unrestrict := scan.PairLines()
	if restrict == 0 {
		return sql, nil
	}
	var b strings.Builder
	n := 0
	for line := range strings.Lines(sql) {
		n++
		if n == restrict || n == unrestrict {
			line = "-- mbackup: pg_dumpall's restrict line, replaced by mbackup's own\n"
		}
		b.WriteString(line)
	}
	return b.String(), nil
}

// runGlobals runs sql through psql with ON_ERROR_STOP, in a single
// transaction unless it creates tablespaces. A psql that has \restrict
// gets it first, with a random key the SQL cannot know, so psql itself
// refuses every meta-command in sql; an older psql does not, and the note
// returned says so.
func (d *Dumper) runGlobals(ctx context.Context, sql string, tablespaces bool) (note string, err error) {
	psql, err := d.tool("psql")
	if err != nil {
		return "", err
	}
	version, err := dump.Output(ctx, exec.CommandContext(ctx, psql, "--version"))
	if err != nil {
		return "", err
	}
	args := []string{"-X", "-q", "-w", "-v", "ON_ERROR_STOP=1"}
	if hasRestrict(version) {
		key := make([]byte, 32)
		rand.Read(key)
		args = append(args, "-c", `\restrict `+hex.EncodeToString(key))
	} else {
		note = fmt.Sprintf("%s has no \\restrict (psql 13.22, 14.19, 15.14, 16.10, 17.6 and later have it): "+
			"the globals were checked for meta-commands by mbackup's scanner only", version)
	}
	args = append(args, "-f", "-")
	if !tablespaces {
		args = append(args, "--single-transaction")
	}
	cmd := exec.CommandContext(ctx, psql, args...)
	cmd.Env = d.env("postgres")
	cmd.Stdin = strings.NewReader(sql)
	if err := dump.Run(ctx, cmd, io.Discard, d.cfg.Password); err != nil {
		return "", redactSQL(err)
	}
	return note, nil
}

// restrictSince is the first minor release of each major with \restrict.
var restrictSince = map[int]int{13: 22, 14: 19, 15: 14, 16: 10, 17: 6}

// hasRestrict reports whether psql --version output is a psql with
// \restrict.
func hasRestrict(version string) bool {
	m := versionRE.FindStringSubmatch(version)
	if m == nil {
		return false
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(strings.TrimPrefix(m[2], "."))
	if major >= 18 {
		return true
	}
	since, ok := restrictSince[major]
	return ok && minor >= since
}

// readGlobals reads the whole SQL and checks that it is complete.
func readGlobals(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxGlobals+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("read the globals: %w", err)
	case len(b) > maxGlobals:
		return "", fmt.Errorf("the globals SQL is larger than %d MiB: not pg_dumpall --globals-only output", maxGlobals>>20)
	case !strings.Contains(string(b), "\n"+globalsEnd+"\n"):
		return "", fmt.Errorf("the globals SQL does not end with pg_dumpall's %q line: it is truncated or not pg_dumpall output; nothing was run", globalsEnd)
	}
	return string(b), nil
}

// roles returns the names of the server's roles and the connected role.
func (d *Dumper) roles(ctx context.Context) (map[string]bool, string, error) {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return nil, "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var self string
	if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&self); err != nil {
		return nil, "", fmt.Errorf("current user: %w", err)
	}
	rows, err := conn.Query(ctx, "SELECT rolname FROM pg_roles")
	if err != nil {
		return nil, "", fmt.Errorf("list roles: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, "", fmt.Errorf("list roles: %w", err)
	}
	existing := make(map[string]bool, len(names))
	for _, n := range names {
		existing[n] = true
	}
	return existing, self, nil
}

// globalsPlan is the SQL to run and what it will do.
type globalsPlan struct {
	sql         string
	report      GlobalsReport
	tablespaces bool // the SQL creates tablespaces: no single transaction
}

// planGlobals rewrites the globals SQL for a server with the existing
// roles, connected as self. pg_dumpall writes one statement per line; a
// line is looked at only when it starts outside a quoted string or
// identifier (a COMMENT ON ROLE may span lines).
func planGlobals(sql string, existing map[string]bool, self string) globalsPlan {
	var p globalsPlan
	var b strings.Builder
	var quote byte
	for line := range strings.Lines(sql) {
		next := scanQuotes(line, quote)
		if quote == 0 {
			line = p.statement(line, existing, self)
		}
		quote = next
		b.WriteString(line)
	}
	p.sql = b.String()
	return p
}

// statement returns line, or the comment that replaces it, and records
// what it does.
func (p *globalsPlan) statement(line string, existing map[string]bool, self string) string {
	if rest, ok := strings.CutPrefix(line, "CREATE ROLE "); ok {
		name, end, ok := parseIdent(rest)
		if !ok || strings.TrimSpace(end) != ";" {
			return line
		}
		if existing[name] {
			p.report.Existing = append(p.report.Existing, name)
			return "-- mbackup: the role exists, CREATE ROLE skipped\n"
		}
		p.report.Created = append(p.report.Created, name)
		return line
	}
	if rest, ok := strings.CutPrefix(line, "ALTER ROLE "); ok {
		name, end, ok := parseIdent(rest)
		if ok && name == self && strings.HasPrefix(end, " WITH ") {
			p.report.Self = self
			return "-- mbackup: the connected role's own attributes and password are left as they are\n"
		}
		return line
	}
	if strings.HasPrefix(line, "CREATE TABLESPACE ") {
		p.tablespaces = true
	}
	return line
}

// parseIdent reads an identifier as pg_dump's fmtId writes it: bare
// lower-case, or double-quoted with "" for a quote.
func parseIdent(s string) (name, rest string, ok bool) {
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch {
			case s[i] != '"':
				b.WriteByte(s[i])
			case i+1 < len(s) && s[i+1] == '"':
				b.WriteByte('"')
				i++
			default:
				return b.String(), s[i+1:], true
			}
		}
		return "", s, false
	}
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] == '$' || 'a' <= s[i] && s[i] <= 'z' || '0' <= s[i] && s[i] <= '9') {
		i++
	}
	return s[:i], s[i:], i > 0
}

// scanQuotes returns the quote (' or ") still open at the end of line,
// given the one open at its start; a -- comment outside quotes ends the
// scan. pg_dumpall sets standard_conforming_strings, so a backslash is an
// ordinary character and a doubled quote reopens at once.
func scanQuotes(line string, quote byte) byte {
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '-' && i+1 < len(line) && line[i+1] == '-':
			return 0
		}
	}
	return quote
}

// sqlSecrets match what a client's error may quote from the SQL it ran: a
// role's password (a SCRAM or md5 verifier, even a plain one) and the row
// a COPY failed on.
var sqlSecrets = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`(?i)(PASSWORD\s+)'(?:[^']|'')*('|$)`), "${1}'[redacted]'"},
	{regexp.MustCompile(`(?m)(COPY [^\n]*?, line \d+)[^\n]*`), "${1} [row redacted]"},
}

// redactSQL removes sqlSecrets from err's message.
func redactSQL(err error) error {
	msg := err.Error()
	for _, s := range sqlSecrets {
		msg = s.re.ReplaceAllString(msg, s.repl)
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// restoreError is "pgdump: <op>: <cause>", with one "pgdump: " only.
type restoreError struct {
	op  string
	err error
}

func (e *restoreError) Error() string {
	return "pgdump: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "pgdump: ")
}

func (e *restoreError) Unwrap() error { return e.err }

func restoreErr(op string, err error) error { return &restoreError{op: op, err: err} }
