package drill

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"mbackup/internal/engine"
	"mbackup/internal/human"
	"mbackup/internal/mysqldump"
	"mbackup/internal/pgdump"
	"mbackup/internal/restore"
	"mbackup/internal/sandbox"
	"mbackup/internal/snapshot"
)

// postgresVersion finds the major in "pg_dump (PostgreSQL) 15.19" and in
// "15.19".
var postgresVersion = regexp.MustCompile(`(?:^|\(PostgreSQL\) )(\d+)`)

// postgresWanted is the PostgreSQL major the dumps of m need: the newest
// of their pg_dump's and their server's; 0 when none is recorded.
func postgresWanted(m *snapshot.Manifest) int {
	want := 0
	for _, a := range m.Artifacts {
		if a.Component != "postgres" {
			continue
		}
		for _, v := range []string{a.Version, a.ServerVersion} {
			if s := postgresVersion.FindStringSubmatch(v); s != nil {
				n, _ := strconv.Atoi(s[1])
				want = max(want, n)
			}
		}
	}
	return want
}

// postgres starts a PostgreSQL for the dumps, restores the globals and
// every database into it, checks the row counts and the roles, and stops
// it.
func (d *drill) postgres(ctx context.Context) error {
	want := postgresWanted(d.m)
	st := d.begin("postgres", "server", StartServer)
	pg, err := sandbox.StartPostgres(ctx, d.dir, d.opt.Binaries, want)
	if err != nil {
		return st.end("", fmt.Errorf("drill: postgres: %w", err))
	}
	took := fmt.Sprintf("PostgreSQL %d from %s", pg.Major, pg.BinDir)
	if want > 0 {
		took += fmt.Sprintf(" (the dumps were made by PostgreSQL %d)", want)
	}
	st.end(took, nil)
	cfg := &pgdump.Config{Host: pg.SocketDir, Port: pg.Port, User: pg.User, SSLMode: "disable", BinDir: pg.BinDir}
	rep, err := restore.Drill(ctx, d.m, []engine.Scratch{cfg}, d.restoreOptions())
	d.record("postgres", rep, err)
	if err == nil {
		err = d.checkRoles(ctx, pg, rep)
	}
	return errors.Join(err, stop("postgres", pg.Stop))
}

// mysql does for MySQL what postgres does, with a MariaDB server.
func (d *drill) mysql(ctx context.Context) error {
	st := d.begin("mysql", "server", StartServer)
	my, err := sandbox.StartMariaDB(ctx, d.dir, d.opt.Binaries)
	if err != nil {
		return st.end("", fmt.Errorf("drill: mysql: %w", err))
	}
	st.end("MariaDB, on a private socket", nil)
	cfg := &mysqldump.Config{Host: my.Socket, User: my.User}
	rep, err := restore.Drill(ctx, d.m, []engine.Scratch{cfg}, d.restoreOptions())
	d.record("mysql", rep, err)
	return errors.Join(err, stop("mysql", my.Stop))
}

func (d *drill) restoreOptions() restore.Options {
	return restore.Options{Store: d.opt.Store, Identities: d.opt.Identities, StagingDir: d.dir, Progress: d.opt.Progress}
}

// record adds the steps of a restore report: its preflight (every
// artifact read back) as a check, then one restore per artifact.
func (d *drill) record(component string, rep restore.Report, err error) {
	n := 0
	for _, a := range d.m.Artifacts {
		if a.Component == component {
			n++
		}
	}
	pre := &running{d: d, step: Step{Component: component, Name: "artifacts", What: Check, Seconds: rep.Preflight.Seconds()}}
	if len(rep.Steps) == 0 {
		if err == nil {
			err = errors.New("drill: nothing was restored")
		}
		pre.record("", err)
		return
	}
	pre.record(fmt.Sprintf("%d artifacts read back: sizes and sha256 equal the manifest's", n), nil)
	for _, s := range rep.Steps {
		r := &running{d: d, step: Step{Component: component, Name: s.Artifact.Name, What: Restore, Seconds: (s.Fetch + s.Apply).Seconds()}}
		if s.Err != nil {
			r.record("", fmt.Errorf("drill: %s: %w", s.Artifact.Key, s.Err))
			continue
		}
		r.record(checkedLine(s), nil)
	}
}

// checkedLine says what a restore step found equal.
func checkedLine(s restore.StepResult) string {
	if g, ok := s.Detail.(*pgdump.GlobalsReport); ok {
		return fmt.Sprintf("%d roles created, %d existing", len(g.Created), len(g.Existing))
	}
	var rows int64
	for _, t := range s.Artifact.Tables {
		rows += t.Rows
	}
	return fmt.Sprintf("%d tables, %s rows equal", s.Tables, count(rows))
}

// checkRoles checks that every role the globals created or found exists.
func (d *drill) checkRoles(ctx context.Context, pg *sandbox.Postgres, rep restore.Report) error {
	var want []string
	for _, s := range rep.Steps {
		if g, ok := s.Detail.(*pgdump.GlobalsReport); ok {
			want = append(append(want, g.Created...), g.Existing...)
			if g.Self != "" {
				want = append(want, g.Self)
			}
		}
	}
	if len(want) == 0 {
		return nil
	}
	st := d.begin("postgres", "globals", Check)
	conn, err := pg.Connect(ctx, "postgres")
	if err != nil {
		return st.end("", fmt.Errorf("drill: postgres: roles: %w", err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT rolname FROM pg_roles WHERE rolname = ANY($1)", want)
	var have []string
	for err == nil && rows.Next() {
		var r string
		err = rows.Scan(&r)
		have = append(have, r)
	}
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return st.end("", fmt.Errorf("drill: postgres: roles: %w", err))
	}
	var missing []string
	for _, r := range want {
		if !slices.Contains(have, r) {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return st.end("", fmt.Errorf("drill: postgres/globals: roles missing from pg_roles after the restore: %s", strings.Join(missing, ", ")))
	}
	return st.end(fmt.Sprintf("%d roles exist in pg_roles", len(want)), nil)
}

// files reads every files artifact back and checks each file's sha256.
func (d *drill) files(ctx context.Context) error {
	var errs []error
	for _, a := range d.m.Artifacts {
		if a.Component != "files" {
			continue
		}
		st := d.begin("files", a.Name, Check)
		rb := snapshot.ReadBack{Identities: d.opt.Identities, Plain: true, Scan: restore.Scanner}
		if err := rb.Artifact(ctx, d.opt.Store, a); err != nil {
			errs = append(errs, st.end("", fmt.Errorf("drill: %s: %w", a.Key, err)))
			continue
		}
		st.end(fmt.Sprintf("%d files, %s: sha256 equal", a.FileCount, human.Bytes(a.FileBytes)), nil)
	}
	return errors.Join(errs...)
}
