package restore

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
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
	// Progress, when set, gets one line as each step and phase starts and
	// ends: the log of a restore off a terminal.
	Progress io.Writer
	// OnProgress, when set, is told where each long phase stands (see
	// Progress), for a progress bar on a terminal.
	OnProgress func(Progress)
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
	// Notes are what the preflight found that does not stop the restore
	// (roles that exist already, what it could not check), each starting
	// with its step's name ("postgres/globals: "). A dry run has them too.
	Notes []string
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
	var err error
	if rep.Notes, err = preflight(ctx, steps, t, opt); err != nil {
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
	m := opt.meter(s, PhaseFetch)
	file, err := stage(ctx, opt.Store, s.Artifact, opt.Identities, dir, m)
	m.finish()
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
	m := opt.meter(r.Step, PhaseApply)
	defer m.finish()
	out, err := t.of(artifact.Component(a.Component)).Apply(ctx,
		engine.Staged{Artifact: a.Ref(), Database: r.Database, File: file, Tables: a.Tables},
		engine.Options{Jobs: opt.Jobs, Clean: opt.Clean, Progress: m.reporter()})
	r.Restored, r.Tables, r.Notes, r.Detail = out.Restored, out.Tables, out.Notes, out.Detail
	return err
}

func progress(opt Options, format string, a ...any) {
	if opt.Progress != nil {
		fmt.Fprintf(opt.Progress, format+"\n", a...)
	}
}

// Phase is a long part of a step, which Options.OnProgress is told about.
type Phase string

// The phases of a step, in order.
const (
	// PhaseCheck is the preflight's read of the artifact: its stored
	// bytes, downloaded and hashed (decrypted too, for SQL).
	PhaseCheck Phase = "check"
	// PhaseFetch is the download, decryption and decompression of the
	// artifact into the staging directory: its stored bytes.
	PhaseFetch Phase = "fetch"
	// PhaseApply is the engine's restore, in its units: the items of the
	// archive's table of contents for pg_restore, the bytes of the file
	// fed to MySQL or copied into the Redis directory.
	PhaseApply Phase = "apply"
)

// Progress is where one phase of one step stands.
type Progress struct {
	// Step is component/name, as Step.Name spells it: the name is the
	// manifest's, any character a database name may hold, so a terminal
	// should get it escaped. What has no control character.
	Step  string
	Phase Phase
	// Done of Total (0 when unknown) Unit, and What it is at (the table
	// pg_restore loads), as the engine reports them.
	engine.Progress
	Elapsed time.Duration // since the phase started
}

// Rate is Done per second since the phase started.
func (p Progress) Rate() float64 {
	return float64(p.Done) / max(p.Elapsed.Seconds(), 0.001)
}

// ProgressEvery is the least time between two calls of Options.OnProgress
// for a phase, which keeps a progress bar from slowing the restore down.
// The first report of a phase, the first with Done reaching Total and its
// last report are always passed on.
const ProgressEvery = 250 * time.Millisecond

// meter throttles one phase's reports to Options.OnProgress and calls it
// one report at a time, from whichever goroutine reports.
type meter struct {
	mu      sync.Mutex
	on      func(Progress)
	p       Progress
	start   time.Time
	last    time.Time
	pending bool
	ended   bool // a report with Done reaching Total was passed on
}

// meter returns the meter of phase of s, nil without OnProgress.
func (opt Options) meter(s Step, phase Phase) *meter {
	if opt.OnProgress == nil {
		return nil
	}
	return &meter{on: opt.OnProgress, p: Progress{Step: s.Name(), Phase: phase}, start: time.Now()}
}

// report records p and passes it on unless the last call was less than
// ProgressEvery ago and p is not the first to reach its Total.
func (m *meter) report(p engine.Progress) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	m.p.Progress = p
	m.p.Elapsed = now.Sub(m.start)
	ends := p.Total > 0 && p.Done >= p.Total && !m.ended
	if !m.last.IsZero() && now.Sub(m.last) < ProgressEvery && !ends {
		m.pending = true
		return
	}
	m.last, m.pending, m.ended = now, false, m.ended || ends
	m.on(m.p)
}

// reporter is report, or nil when m is: an engine does not work out its
// progress for nobody.
func (m *meter) reporter() func(engine.Progress) {
	if m == nil {
		return nil
	}
	return m.report
}

// finish passes on the last report if it was held back.
func (m *meter) finish() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending {
		m.pending = false
		m.on(m.p)
	}
}

// store returns s, whose Get tells m the bytes read of total.
func (m *meter) store(s storage.Store, total int64) storage.Store {
	if m == nil {
		return s
	}
	return meteredStore{Store: s, m: m, total: total}
}

type meteredStore struct {
	storage.Store
	m     *meter
	total int64
}

func (s meteredStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := s.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{engine.ProgressReader(rc, s.total, s.m.report), rc}, nil
}
