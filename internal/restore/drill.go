package restore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"mbackup/internal/artifact"
	"mbackup/internal/engine"
	"mbackup/internal/snapshot"
)

// DrillPrefix starts the name of every database a drill restores into.
const DrillPrefix = "mbackup_drill_"

// maxNameLen is PostgreSQL's identifier limit (MySQL allows 64).
const maxNameLen = 63

// Drill restores the artifacts of m that the scratch targets take
// (PostgreSQL and MySQL servers; see engine.Drillable) into them, each
// database under the name DrillPrefix+name, checks every table's row count
// against the manifest (as Run does), and drops the scratch databases
// again, whether the restore worked or not. The globals are restored too
// (the databases' owners must exist) and their roles stay on the scratch
// server. A scratch database that exists and is not empty is refused and
// left alone. Redis is not drilled: its artifact is checked by decrypting
// it. A component without a scratch target is left out.
func Drill(ctx context.Context, m *snapshot.Manifest, scratch []engine.Scratch, opt Options) (Report, error) {
	var t Targets
	var have []string
	for _, s := range scratch {
		t = append(t, s)
		if c := string(s.Component()); hasComponent(m, c) && !slices.Contains(have, c) {
			have = append(have, c)
		}
	}
	if len(have) == 0 {
		return Report{}, fmt.Errorf("restore: drill: snapshot %s holds nothing to restore into the servers given", m.ID)
	}
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
		s, ok := t.of(artifact.Component(r.Artifact.Component)).(engine.Scratch)
		if !ok {
			continue
		}
		if err := s.Drop(ctx, r.Database); err != nil {
			errs = append(errs, fmt.Errorf("restore: drill: drop scratch database %s: %w", r.Database, err))
		}
	}
	return errors.Join(errs...)
}
