package restore

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"filippo.io/age"

	"mbackup/internal/artifact"
	"mbackup/internal/engine"
	"mbackup/internal/human"
	"mbackup/internal/storage"
)

// Options say how to run a restore.
type Options struct {
	Store      storage.Store
	Identities []age.Identity
	// StagingDir is where the private staging directory is made; "" means
	// os.TempDir(). Staged PostgreSQL dumps are pg_dump -Fc -Z0, about the
	// size of the database's data without its indexes.
	StagingDir string
	// Jobs is pg_restore -j; 0 means 2.
	Jobs int
	// Clean allows restoring into databases that are not empty; see Plan.
	Clean bool
	// Progress, when set, gets one line as each step starts and ends.
	Progress io.Writer
	// DryRun stops Run after the preflight: every artifact and target is
	// checked and nothing is staged or written.
	DryRun bool
}

// StepResult is what one step did and how long it took.
type StepResult struct {
	Step
	Fetch  time.Duration // download, decrypt, decompress and check
	Apply  time.Duration // the restore proper and its row-count check
	Tables int           // tables whose row counts were checked
	// Restored is true once the restore proper succeeded, even when the
	// row-count check after it failed.
	Restored bool
	// Notes are the engine's lines for the report (the roles the globals
	// created, how to load a Redis file); Detail its own account of the
	// step (*pgdump.GlobalsReport for the globals).
	Notes  []string
	Detail any
	Err    error
}

// Report is the outcome of a restore: the steps that ran, in order.
type Report struct {
	Steps []StepResult
	// Preflight is the time taken to read and check every artifact and
	// target before the first step.
	Preflight time.Duration
	Total     time.Duration
}

// Run checks every artifact of steps (see the package comment), then
// restores them one by one into t. It returns the report of the steps that
// ran and the first error, which names the artifact.
func Run(ctx context.Context, steps []Step, t Targets, opt Options) (Report, error) {
	start := time.Now()
	var rep Report
	if err := preflight(ctx, steps, t, opt); err != nil {
		rep.Preflight = time.Since(start)
		return rep, err
	}
	rep.Preflight = time.Since(start)
	if opt.DryRun {
		rep.Total = rep.Preflight
		return rep, nil
	}
	progress(opt, "checked %d artifacts and their targets in %s; restoring", len(steps), rep.Preflight.Round(time.Millisecond))
	dir, err := os.MkdirTemp(opt.StagingDir, "mbackup-restore-")
	if err != nil {
		return rep, fmt.Errorf("restore: staging directory: %w", err)
	}
	defer os.RemoveAll(dir)
	for _, s := range steps {
		r := runStep(ctx, s, t, opt, dir)
		rep.Steps = append(rep.Steps, r)
		if r.Err != nil {
			rep.Total = time.Since(start)
			return rep, fmt.Errorf("restore: %s: %w", s.Artifact.Key, r.Err)
		}
	}
	rep.Total = time.Since(start)
	return rep, nil
}

func runStep(ctx context.Context, s Step, t Targets, opt Options, dir string) StepResult {
	r := StepResult{Step: s}
	progress(opt, "%s: fetching %s", s.Name(), human.Bytes(s.Artifact.StoredBytes))
	begin := time.Now()
	file, err := stage(ctx, opt.Store, s.Artifact, opt.Identities, dir)
	r.Fetch = time.Since(begin)
	if err != nil {
		r.Err = fmt.Errorf("%w; nothing of it was restored", err)
		progress(opt, "%s: failed: %v", s.Name(), r.Err)
		return r
	}
	defer os.Remove(file)
	progress(opt, "%s: checked %s in %s; restoring", s.Name(), human.Bytes(s.Artifact.PlainBytes), r.Fetch.Round(time.Millisecond))
	begin = time.Now()
	r.Err = apply(ctx, &r, t, opt, file)
	r.Apply = time.Since(begin)
	if r.Err != nil {
		progress(opt, "%s: failed: %v", s.Name(), r.Err)
	} else {
		progress(opt, "%s: restored in %s", s.Name(), r.Apply.Round(time.Millisecond))
	}
	return r
}

// apply restores one staged file through its target, which then checks
// what it can (the row counts).
func apply(ctx context.Context, r *StepResult, t Targets, opt Options, file string) error {
	a := r.Artifact
	out, err := t.of(artifact.Component(a.Component)).Apply(ctx,
		engine.Staged{Artifact: a.Ref(), Database: r.Database, File: file, Tables: a.Tables},
		engine.Options{Jobs: opt.Jobs, Clean: opt.Clean})
	r.Restored, r.Tables, r.Notes, r.Detail = out.Restored, out.Tables, out.Notes, out.Detail
	return err
}

func progress(opt Options, format string, a ...any) {
	if opt.Progress != nil {
		fmt.Fprintf(opt.Progress, format+"\n", a...)
	}
}
