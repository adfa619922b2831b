package task

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/lock"
	"mbackup/internal/mediasync"
	"mbackup/internal/retention"
	"mbackup/internal/scheduler"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// Ops are what the daemon's tasks are made of, given by the command.
type Ops struct {
	// Load loads the configuration again, for Reload.
	Load func() (*config.Config, error)
	// Open opens the configured store.
	Open func(context.Context, config.Storage) (storage.Store, error)
	// Locks is where the configured store's locks are.
	Locks func(config.Storage) (lock.Place, error)
	// Take takes one snapshot of every configured component into s.
	Take func(ctx context.Context, cfg *config.Config, s storage.Store) (*snapshot.Manifest, error)
	// Mirror mirrors the media bucket into s and says what it did in a line.
	Mirror func(ctx context.Context, cfg *config.Config, s storage.Store) (mediasync.Result, string, error)
	// Drill drills the newest complete snapshot of s, records the result
	// in s and says how it went in a line.
	Drill func(ctx context.Context, cfg *config.Config, s storage.Store) (*snapshot.Manifest, string, error)
	// PruneSummary says what a prune did in a line.
	PruneSummary func(retention.PruneReport) string
	// Waiting tells that a run waits for a lock, and why; a line of the
	// log when nil.
	Waiting func(msg string)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Daemon runs the scheduled tasks of a configuration until Stop; Reload
// replaces the configuration. The command that starts it keeps the
// signals.
type Daemon struct {
	log *slog.Logger
	obs *Observer
	ops Ops

	mu      sync.Mutex
	cfg     *config.Config
	sched   *scheduler.Scheduler
	retired []context.Context // schedulers replaced by a reload, until their runs end
}

// NewDaemon returns a daemon that reports to obs and logs to log.
func NewDaemon(log *slog.Logger, obs *Observer, ops Ops) *Daemon {
	if ops.Now == nil {
		ops.Now = time.Now
	}
	if ops.Waiting == nil {
		ops.Waiting = func(msg string) { log.Warn(msg) }
	}
	return &Daemon{log: log, obs: obs, ops: ops}
}

// Start schedules cfg's tasks and catches up a missed backup. A
// verifier's configuration (config.Config.Verifier) schedules no backup:
// that host only drills, and verifies when schedule.verify is set.
func (d *Daemon) Start(ctx context.Context, cfg *config.Config) error {
	return d.start(ctx, cfg, "daemon started")
}

// start schedules cfg's tasks, logs msg with the schedules and catches up
// a missed backup.
func (d *Daemon) start(ctx context.Context, cfg *config.Config, msg string) error {
	s := scheduler.New(ctx, d.log)
	if !cfg.Verifier() {
		if err := s.Add(Backup, cfg.Schedule.Backup, d.backup); err != nil {
			return err
		}
	}
	if cfg.Drill != nil {
		if err := s.Add(Drill, cfg.Drill.Schedule, d.reading(Drill, d.drill)); err != nil {
			return err
		}
	}
	if cfg.Schedule.Verify != "" {
		if err := s.Add(Verify, cfg.Schedule.Verify, d.reading(Verify, d.verify)); err != nil {
			return err
		}
	}
	if cfg.Media != nil {
		if err := s.Add(Mirror, cfg.Schedule.Mirror, d.mirror); err != nil {
			return err
		}
	}
	d.mu.Lock()
	d.cfg, d.sched = cfg, s
	d.mu.Unlock()
	s.Start()
	d.log.Info(msg, schedules(cfg, s)...)
	go d.catchUp(ctx, cfg, s)
	return nil
}

// schedules are the log attributes of cfg's schedules as s runs them:
// each schedule and, when known, its next run; unset ones are left out.
func schedules(cfg *config.Config, s *scheduler.Scheduler) []any {
	var attrs []any
	if cfg.Verifier() {
		attrs = append(attrs, "backup", "none (a verifier)")
	} else {
		attrs = append(attrs, "backup", cfg.Schedule.Backup)
		attrs = append(attrs, TimeAttr("next_backup", s.Next(Backup))...)
	}
	if cfg.Drill != nil {
		attrs = append(attrs, "drill", cfg.Drill.Schedule)
		attrs = append(attrs, TimeAttr("next_drill", s.Next(Drill))...)
	}
	if cfg.Schedule.Verify != "" {
		attrs = append(attrs, "verify", cfg.Schedule.Verify)
		attrs = append(attrs, TimeAttr("next_verify", s.Next(Verify))...)
	}
	if cfg.Media != nil {
		attrs = append(attrs, "mirror", cfg.Schedule.Mirror)
		attrs = append(attrs, TimeAttr("next_mirror", s.Next(Mirror))...)
	}
	if cfg.Metrics.Listen != "" {
		attrs = append(attrs, "metrics", cfg.Metrics.Listen)
	}
	return attrs
}

// TimeAttr is the log attribute key=t in RFC 3339, or nothing when t is
// zero (unknown): a log never shows 0001-01-01.
func TimeAttr(key string, t time.Time) []any {
	if t.IsZero() {
		return nil
	}
	return []any{key, t.Format(time.RFC3339)}
}

// catchUp lists the store at start, so that the metrics tell what it
// holds before any run (Observer.Refresh), and runs a backup at once when
// the newest good snapshot is older than the backup interval (or there is
// none): the daemon was down when a run was due. A verifier backs up
// nothing.
func (d *Daemon) catchUp(ctx context.Context, cfg *config.Config, s *scheduler.Scheduler) {
	var newest time.Time
	err := d.withStore(ctx, cfg.Storage, func(st storage.Store) error {
		var err error
		newest, err = d.obs.Refresh(ctx, st)
		return err
	})
	if cfg.Verifier() {
		if err != nil {
			d.log.Error("cannot list the snapshots", "err", err)
		}
		return
	}
	interval, ierr := scheduler.Interval(cfg.Schedule.Backup, d.ops.Now())
	if ierr != nil {
		return
	}
	switch {
	case err != nil:
		d.log.Error("catch-up: cannot list the snapshots; the backup runs on schedule", "err", err)
	case newest.IsZero():
		d.log.Info("catch-up: no complete snapshot in the store: backing up now")
		s.RunNow(Backup)
	case d.ops.Now().Sub(newest) > interval:
		d.log.Info("catch-up: the newest complete snapshot is older than the backup interval: backing up now",
			"newest", newest.Format(time.RFC3339), "interval", interval.String())
		s.RunNow(Backup)
	}
}

// Reload loads the configuration again; the old one stays when it fails.
func (d *Daemon) Reload(ctx context.Context) {
	cfg, err := d.ops.Load()
	if err != nil {
		d.log.Error("reload: the new configuration does not load; keeping the old one", "err", err)
		return
	}
	d.mu.Lock()
	old := d.sched
	d.mu.Unlock()
	if err := d.start(ctx, cfg, "configuration reloaded"); err != nil {
		d.log.Error("reload: keeping the old configuration", "err", err)
		return
	}
	d.mu.Lock()
	d.retired = append(d.retired, old.Retire())
	d.mu.Unlock()
	if err := d.obs.Configure(cfg); err != nil {
		d.log.Error("reload: notifications keep their old settings", "err", err)
	}
}

// Stop cancels the running tasks and waits until they have returned.
func (d *Daemon) Stop() {
	d.log.Info("stopping: cancelling the running jobs")
	d.mu.Lock()
	waits := append(d.retired, d.sched.Stop())
	d.mu.Unlock()
	for _, w := range waits {
		<-w.Done()
	}
	d.log.Info("stopped")
}

func (d *Daemon) config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

func (d *Daemon) next(task string) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sched.Next(task)
}

// withStore opens the configured store, runs fn and closes the store.
func (d *Daemon) withStore(ctx context.Context, c config.Storage, fn func(storage.Store) error) error {
	s, err := d.ops.Open(ctx, c)
	if err != nil {
		return err
	}
	if cl, ok := s.(io.Closer); ok {
		defer cl.Close()
	}
	return fn(s)
}
