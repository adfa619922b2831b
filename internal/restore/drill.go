package restore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"mbackup/internal/mysqldump"
	"mbackup/internal/pgdump"
	"mbackup/internal/snapshot"
)

// DrillPrefix starts the name of every database a drill restores into.
const DrillPrefix = "mbackup_drill_"

// maxNameLen is PostgreSQL's identifier limit (MySQL allows 64).
const maxNameLen = 63

// Drill restores the PostgreSQL and MySQL artifacts of m into scratch
// servers, each database under the name DrillPrefix+name, checks every
// table's row count against the manifest (as Run does), and drops the
// scratch databases again, whether the restore worked or not. The globals
// are restored too (the databases' owners must exist) and their roles stay
// on the scratch server. A scratch database that exists and is not empty
// is refused and left alone. Redis is not
// drilled: its artifact is checked by decrypting it. Either target may be
// nil to leave that component out.
func Drill(ctx context.Context, m *snapshot.Manifest, pg *pgdump.Config, my *mysqldump.Config, opt Options) (Report, error) {
	var only []string
	if pg != nil {
		only = append(only, "postgres")
	}
	if my != nil {
		only = append(only, "mysql")
	}
	var have []string
	for _, sel := range only {
		if hasComponent(m, sel) {
			have = append(have, sel)
		}
	}
	if len(have) == 0 {
		return Report{}, fmt.Errorf("restore: drill: snapshot %s holds nothing to restore into the servers given", m.ID)
	}
	t := Targets{Postgres: pg, MySQL: my}
	opt.Clean = false
	steps, err := Plan(m, have, t, false)
	if err != nil {
		return Report{}, err
	}
	for i := range steps {
		if steps[i].Database == "" {
			continue
		}
		steps[i].Database = DrillPrefix + steps[i].Database
		if len(steps[i].Database) > maxNameLen {
			return Report{}, fmt.Errorf("restore: drill: %s: scratch name %s is longer than %d bytes", steps[i].Name(), steps[i].Database, maxNameLen)
		}
	}
	rep, err := Run(ctx, steps, t, opt)
	return rep, errors.Join(err, dropScratch(ctx, rep, t))
}

func hasComponent(m *snapshot.Manifest, c string) bool {
	for _, a := range m.Artifacts {
		if a.Component == c {
			return true
		}
	}
	return false
}

// dropScratch drops the databases the drill restored. A restore that
// failed has dropped the database it created itself, or was refused
// because the database held something: that one is left alone.
func dropScratch(ctx context.Context, rep Report, t Targets) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var errs []error
	for _, r := range rep.Steps {
		if r.Database == "" || !r.Restored {
			continue
		}
		var err error
		switch r.Artifact.Component {
		case "postgres":
			err = pgdump.DropDatabase(ctx, *t.Postgres, r.Database)
		case "mysql":
			err = mysqldump.DropDatabase(ctx, *t.MySQL, r.Database)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("restore: drill: drop scratch database %s: %w", r.Database, err))
		}
	}
	return errors.Join(errs...)
}
