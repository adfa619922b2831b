package pgdump

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"mbackup/internal/dump"
	"mbackup/internal/engine"
)

var _ engine.Preflighter = (*Config)(nil)

// Preflight checks, before anything is written anywhere, that the server
// can take the step, and returns every problem it finds:
//   - the server answers, and the client program the step runs (psql,
//     pg_restore) is there;
//   - for a database: the server's major version is at least the dump's
//     source server's (a newer server's dump may use what an older one
//     lacks), the local pg_restore's major at least that of the pg_dump
//     that made the dump (an older one cannot read its archive), every
//     extension the dump creates is available on the server
//     (pg_available_extensions), and the database is absent or empty
//     (unless p.Clean);
//   - for the globals: which of its roles exist already, a note.
//
// What the manifest does not record (the extensions, before they were)
// is a note saying it was not checked, not a refusal.
func (c *Config) Preflight(ctx context.Context, p engine.Pending) ([]string, error) {
	d, err := openServer(ctx, *c)
	if err != nil {
		return nil, restoreErr("check "+c.where(), fmt.Errorf("%w: check the server's address, port, user and password", unprefixed{err}))
	}
	if isGlobals(p.Artifact) {
		return d.preflightGlobals(ctx, c.where(), p.SQL)
	}
	var notes []string
	if _, _, ok := majorOf(p.Info.ServerVersion); !ok {
		notes = append(notes, fmt.Sprintf("the manifest's server version of the dump, %q, is not one: "+
			"whether this server is new enough was not checked", p.Info.ServerVersion))
	}
	if versionRE.FindStringSubmatch(p.Info.Version) == nil {
		notes = append(notes, fmt.Sprintf("the manifest's pg_dump version, %q, is not one: "+
			"whether the local pg_restore can read the dump was not checked", p.Info.Version))
	}
	errs := []error{d.checkServerVersion(p.Info), d.checkPgRestore(ctx, p.Info)}
	if p.Info.Extensions == nil {
		notes = append(notes, "this snapshot's manifest does not list the dump's extensions (it was made by an older mbackup): "+
			"whether the target server has them was not checked; a missing one fails the restore at its turn")
	} else {
		errs = append(errs, d.checkExtensions(ctx, p.Info.Extensions))
	}
	errs = append(errs, d.checkTarget(ctx, p.Database, p.Clean), d.checkOwner(ctx, p))
	if err := errors.Join(errs...); err != nil {
		return notes, restoreErr(fmt.Sprintf("check database %s on %s", p.Database, c.where()), err)
	}
	return notes, nil
}

// preflightGlobals checks that psql is there and says which of the roles
// of sql (nil: not read) exist on the server already.
func (d *Dumper) preflightGlobals(ctx context.Context, where string, sql []byte) ([]string, error) {
	if _, err := d.tool("psql"); err != nil {
		return nil, restoreErr("check "+where, err)
	}
	if sql == nil {
		return []string{"the globals were not read before the restore: which of their roles exist already was not checked"}, nil
	}
	existing, self, err := d.roles(ctx)
	if err != nil {
		return nil, restoreErr("check "+where, err)
	}
	plan := planGlobals(string(sql), existing, self)
	if len(plan.report.Existing) == 0 {
		return []string{fmt.Sprintf("none of the %d roles of the globals exists on %s: all are created", len(plan.report.Created), where)}, nil
	}
	return []string{fmt.Sprintf("roles that exist on %s already, which get the dump's attributes, passwords and memberships: %s; "+
		"left as it is: %s (the role restoring); created: %s", where, listOrNone(without(plan.report.Existing, self)),
		listOrNone([]string{plan.report.Self}), listOrNone(plan.report.Created))}, nil
}

// leadingVersion reads "15.19" or "9.6.24 (Debian ...)" as a comparable
// major: 1500, 906.
var leadingVersion = regexp.MustCompile(`^\s*(\d+)(?:\.(\d+))?`)

// majorOf returns the major version of a PostgreSQL version string as a
// comparable number (15 is 1500, 9.6 is 906) and its text ("15", "9.6").
func majorOf(v string) (int, string, bool) {
	m := leadingVersion.FindStringSubmatch(v)
	if m == nil {
		return 0, "", false
	}
	a, err := strconv.Atoi(m[1])
	if err != nil || a > 1000 {
		return 0, "", false
	}
	if a >= 10 || m[2] == "" {
		return a * 100, m[1], true
	}
	b, _ := strconv.Atoi(m[2])
	return a*100 + b, m[1] + "." + m[2], true
}

// checkServerVersion refuses a server older than the dump's source.
func (d *Dumper) checkServerVersion(info dump.Info) error {
	want, wantText, ok := majorOf(info.ServerVersion)
	if !ok {
		return nil // a note says it was not checked
	}
	got, _, ok := majorOf(d.serverVersion)
	if ok && got < want {
		return fmt.Errorf("the server is PostgreSQL %s and the dump was made from %s: a dump of a newer server "+
			"may use what an older one lacks; restore into a PostgreSQL %s or newer server (upgrade this one, or install PostgreSQL %s beside it)",
			d.serverVersion, info.ServerVersion, wantText, wantText)
	}
	return nil
}

// checkPgRestore refuses a local pg_restore older than the pg_dump that
// made the dump, which cannot read its archive (the format changes with
// the major).
func (d *Dumper) checkPgRestore(ctx context.Context, info dump.Info) error {
	pgRestore, err := d.tool("pg_restore")
	if err != nil {
		return unprefixed{err}
	}
	out, err := dump.Output(ctx, exec.CommandContext(ctx, pgRestore, "--version"))
	if err != nil {
		return err
	}
	dumped := versionRE.FindStringSubmatch(info.Version)
	if dumped == nil {
		return nil // a note says it was not checked
	}
	want, wantText, _ := majorOf(dumped[1] + dumped[2])
	have := versionRE.FindStringSubmatch(out)
	if have == nil {
		return fmt.Errorf("%s --version printed %q, not a PostgreSQL version", pgRestore, out)
	}
	if got, _, _ := majorOf(have[1] + have[2]); got < want {
		return fmt.Errorf("%s is %s and the dump was made by %s: an older pg_restore cannot read the archive; "+
			"install postgresql-client-%s (from the PostgreSQL apt repository)", pgRestore, out, info.Version, wantText)
	}
	return nil
}

// checkExtensions refuses extensions that the server cannot create.
func (d *Dumper) checkExtensions(ctx context.Context, want []string) error {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return unprefixed{err}
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT name FROM pg_available_extensions")
	if err != nil {
		return fmt.Errorf("list available extensions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list available extensions: %w", err)
	}
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	var missing []string
	for _, e := range want {
		if !have[e] {
			missing = append(missing, strconv.Quote(e))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("the dump creates extensions this server does not have (pg_available_extensions): %s; "+
		"install them on the server (their package, such as postgresql-%d-<name>, or postgresql-contrib) "+
		"or restore onto a server that has them", strings.Join(missing, ", "), d.serverMajor)
}

// checkOwner refuses a database to create whose owner (as the manifest
// records it) does not exist on the server when the globals, which would
// create it, are not restored before it: RestoreDatabase would refuse it
// at its turn, after the steps before it.
func (d *Dumper) checkOwner(ctx context.Context, p engine.Pending) error {
	if p.Info.Owner == "" || slices.Contains(p.Before, globals) {
		return nil
	}
	existing, _, err := d.roles(ctx)
	if err != nil || existing[p.Info.Owner] {
		return err
	}
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return unprefixed{err}
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", p.Database).Scan(&exists)
	if err != nil || exists { // restored into as it is: its owner stays
		return err
	}
	return fmt.Errorf("role %q, which owned the dumped database, does not exist on this server and the globals are not "+
		"restored before it: restore them too (select postgres/globals as well), or create the role first", p.Info.Owner)
}

// checkTarget fails when db exists and is not empty, without clean.
func (d *Dumper) checkTarget(ctx context.Context, db string, clean bool) error {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return unprefixed{err}
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
		return fmt.Errorf("look for the database: %w", err)
	}
	if !exists || clean {
		return nil
	}
	return d.checkEmpty(ctx, db)
}

// unprefixed is an error of this package without its "pgdump: ", inside
// another that has it.
type unprefixed struct{ error }

func (u unprefixed) Error() string { return strings.TrimPrefix(u.error.Error(), "pgdump: ") }

func (u unprefixed) Unwrap() error { return u.error }
