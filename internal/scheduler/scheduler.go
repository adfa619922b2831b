// Package scheduler runs the daemon's jobs on cron schedules.
//
// Invariants:
//   - Schedules are read in UTC, so daylight saving time never skips or
//     doubles a run (robfig/cron does both in zones with DST).
//   - A job never runs twice at once in this process: a run that comes due
//     while the previous one still runs is skipped and logged. The chain is
//     SkipIfStillRunning around Recover, in that order: the other order
//     loses the job forever after one panic. Across processes (a manual
//     "mbackup backup" beside the daemon) the jobs take internal/lock.
//   - Every run gets the scheduler's context: Stop cancels the running
//     jobs and waits until they have returned, the runs RunNow started
//     included (cron's own wait knows only the runs it started). After
//     Stop or Retire, RunNow starts nothing.
package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// parser reads five-field expressions and descriptors (@daily, @every 6h).
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse parses a schedule as the scheduler does.
func Parse(spec string) (cron.Schedule, error) {
	s, err := parser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("scheduler: schedule %q: %w", spec, err)
	}
	return s, nil
}

// Interval is the time between the next two runs of spec after now: how
// old the newest good snapshot may be before a start catches up.
func Interval(spec string, now time.Time) (time.Duration, error) {
	s, err := Parse(spec)
	if err != nil {
		return 0, err
	}
	next := s.Next(now.UTC())
	return s.Next(next).Sub(next), nil
}

// Scheduler runs named jobs.
type Scheduler struct {
	c      *cron.Cron
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger
	mu     sync.Mutex
	ids    map[string]cron.EntryID
	now    sync.WaitGroup // the runs RunNow started
	ended  bool           // Stop or Retire was called: RunNow starts nothing
}

// New returns a stopped Scheduler whose jobs run with a context derived
// from ctx.
func New(ctx context.Context, log *slog.Logger) *Scheduler {
	l := cronLogger{log}
	ctx, cancel := context.WithCancel(ctx)
	return &Scheduler{
		c: cron.New(cron.WithLocation(time.UTC), cron.WithParser(parser),
			cron.WithChain(cron.SkipIfStillRunning(l), cron.Recover(l))),
		ctx: ctx, cancel: cancel, log: log, ids: map[string]cron.EntryID{},
	}
}

// Add schedules run as the job name.
func (s *Scheduler) Add(name, spec string, run func(ctx context.Context)) error {
	id, err := s.c.AddFunc(spec, func() { run(s.ctx) })
	if err != nil {
		return fmt.Errorf("scheduler: %s: schedule %q: %w", name, spec, err)
	}
	s.mu.Lock()
	s.ids[name] = id
	s.mu.Unlock()
	return nil
}

// RunNow starts job name at once, through the same chain as its scheduled
// runs (so it is skipped if a run is in progress), without waiting.
func (s *Scheduler) RunNow(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.ids[name]; ok && !s.ended {
		s.now.Go(s.c.Entry(id).WrappedJob.Run)
	}
}

// Next is when job name runs next; zero if unknown or not started.
func (s *Scheduler) Next(name string) time.Time {
	s.mu.Lock()
	id, ok := s.ids[name]
	s.mu.Unlock()
	if !ok {
		return time.Time{}
	}
	return s.c.Entry(id).Next
}

// Start starts running the jobs on their schedules.
func (s *Scheduler) Start() { s.c.Start() }

// Stop stops scheduling, cancels the running jobs and returns a context
// that is done when they have all returned.
func (s *Scheduler) Stop() context.Context {
	done := s.end()
	s.cancel()
	return done
}

// end stops scheduling and RunNow and returns a context that is done when
// every run, scheduled or started by RunNow, has returned.
func (s *Scheduler) end() context.Context {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	cronDone := s.c.Stop()
	ctx, done := context.WithCancel(context.Background())
	go func() {
		<-cronDone.Done()
		s.now.Wait()
		done()
	}()
	return ctx
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) {
	if msg == "skip" {
		l.log.Warn("a scheduled run was skipped: the previous run of the job is still running")
		return
	}
	l.log.Debug("cron: "+msg, kv...)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}

// Retire stops scheduling without cancelling the running jobs (a reload
// replaced this scheduler) and returns a context that is done when they
// have returned; Stop of the daemon's context cancels them.
func (s *Scheduler) Retire() context.Context {
	return s.end()
}
