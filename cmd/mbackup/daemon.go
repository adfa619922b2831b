package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/lock"
	"mbackup/internal/retention"
	"mbackup/internal/scheduler"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// daemon runs the configured schedules until its context ends (SIGTERM or
// SIGINT in main). SIGHUP reloads the configuration; a configuration that
// does not load is refused and the old one kept.
type daemon struct {
	e   *env
	log *slog.Logger
	obs *observer

	mu      sync.Mutex
	cfg     *config.Config
	sched   *scheduler.Scheduler
	retired []context.Context // schedulers replaced by a reload, until their runs end
}

func runDaemon(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("daemon")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("daemon: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	d := &daemon{e: e, log: e.logger()}
	if d.obs, err = newObserver(cfg, d.log); err != nil {
		return err
	}
	defer d.obs.close()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := d.start(ctx, cfg); err != nil {
		return &configError{err}
	}
	for {
		select {
		case <-ctx.Done():
			d.stop()
			return nil
		case <-hup:
			d.reload(ctx)
		}
	}
}

// start schedules cfg's jobs and catches up a missed backup.
func (d *daemon) start(ctx context.Context, cfg *config.Config) error {
	s := scheduler.New(ctx, d.log)
	if err := s.Add("backup", cfg.Schedule.Backup, d.backupJob); err != nil {
		return err
	}
	if cfg.Schedule.Verify != "" {
		if err := s.Add("verify", cfg.Schedule.Verify, d.reading("verify", d.verifyJob)); err != nil {
			return err
		}
	}
	if cfg.Media != nil {
		if err := s.Add("mirror", cfg.Schedule.Mirror, d.mirrorJob); err != nil {
			return err
		}
	}
	d.mu.Lock()
	d.cfg, d.sched = cfg, s
	d.mu.Unlock()
	s.Start()
	d.log.Info("daemon started", "backup", cfg.Schedule.Backup, "next backup", s.Next("backup").Format(time.RFC3339),
		"verify", cfg.Schedule.Verify, "metrics", cfg.Metrics.Listen)
	go d.catchUp(ctx, cfg, s)
	return nil
}

// catchUp runs a backup at once when the newest complete snapshot is older
// than the backup interval (or there is none): the daemon was down when a
// run was due.
func (d *daemon) catchUp(ctx context.Context, cfg *config.Config, s *scheduler.Scheduler) {
	interval, err := scheduler.Interval(cfg.Schedule.Backup, time.Now())
	if err != nil {
		return
	}
	var newest time.Time
	err = withStore(ctx, cfg.Storage, func(st storage.Store) error {
		var err error
		newest, err = d.obs.refresh(ctx, st)
		return err
	})
	switch {
	case err != nil:
		d.log.Error("catch-up: cannot list the snapshots; the backup runs on schedule", "err", err)
	case newest.IsZero():
		d.log.Info("catch-up: no complete snapshot in the store: backing up now")
		s.RunNow("backup")
	case time.Since(newest) > interval:
		d.log.Info("catch-up: the newest complete snapshot is older than the backup interval: backing up now",
			"newest", newest.Format(time.RFC3339), "interval", interval)
		s.RunNow("backup")
	}
}

// reload loads the configuration again; the old one stays when it fails.
func (d *daemon) reload(ctx context.Context) {
	cfg, err := d.e.loadConfig()
	if err != nil {
		d.log.Error("reload: the new configuration does not load; keeping the old one", "err", err)
		return
	}
	d.mu.Lock()
	old := d.sched
	d.mu.Unlock()
	if err := d.start(ctx, cfg); err != nil {
		d.log.Error("reload: keeping the old configuration", "err", err)
		return
	}
	d.mu.Lock()
	d.retired = append(d.retired, old.Retire())
	d.mu.Unlock()
	if err := d.obs.reconfigure(cfg); err != nil {
		d.log.Error("reload: notifications keep their old settings", "err", err)
	}
	d.log.Info("reload: configuration reloaded")
}

// stop cancels the running jobs and waits until they have returned.
func (d *daemon) stop() {
	d.log.Info("stopping: cancelling the running jobs")
	d.mu.Lock()
	waits := append(d.retired, d.sched.Stop())
	d.mu.Unlock()
	for _, w := range waits {
		<-w.Done()
	}
	d.log.Info("stopped")
}

func (d *daemon) config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

func (d *daemon) next(job string) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sched.Next(job)
}

// backupJob takes a snapshot and prunes, under the store's lock.
func (d *daemon) backupJob(ctx context.Context) {
	cfg := d.config()
	started := time.Now()
	l, err := lockStore(cfg.Storage, "mbackup daemon: backup")
	if err != nil {
		d.notRun(ctx, cfg, "backup", started, err)
		return
	}
	defer l.Release()
	err = withStore(ctx, cfg.Storage, func(s storage.Store) error {
		m, err := takeSnapshot(ctx, d.e, cfg, s, nil)
		r := outcome{job: "backup", started: started, manifest: m, err: err}
		if ctx.Err() == nil {
			r.summary = d.prune(ctx, cfg, s)
			r.newestGood, _ = d.obs.refresh(ctx, s)
		}
		r.next = d.next("backup")
		d.obs.jobDone(ctx, r)
		return err
	})
	if err != nil {
		d.log.Error("backup failed", "err", err)
	}
}

// verifyJob checks the signature and the stored hashes of the newest good
// snapshot (snapshot.NewestGood). Every outcome goes through the observer: a
// listing that fails or a store without a good snapshot is a failed run,
// counted and posted like any other.
func (d *daemon) verifyJob(ctx context.Context) {
	cfg := d.config()
	started := time.Now()
	r := outcome{job: "verify", started: started}
	r.err = withStore(ctx, cfg.Storage, func(s storage.Store) error {
		entries, err := snapshot.List(ctx, s)
		if err != nil {
			return err
		}
		g, ok := snapshot.NewestGood(entries, time.Now())
		if !ok {
			return fmt.Errorf("verify: the store holds no good snapshot (complete, not dated in the future) among %d listed: mbackup list shows them", len(entries))
		}
		r.manifest, r.newestGood = g.Manifest, g.Manifest.Started
		signer, err := cfg.Encryption.TrustedSigner()
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		m, err := snapshot.Authenticate(ctx, s, g.ID, signer)
		if err != nil {
			return err
		}
		return snapshot.Check(ctx, s, m)
	})
	r.next = d.next("verify")
	d.obs.jobDone(ctx, r)
	if r.err != nil {
		d.log.Error("verify failed", "err", r.err)
	}
}

// prune applies retention after a backup and returns its summary line. Its
// failure is not the backup's: it is logged, reported in the summary, and
// counted and posted as a failed prune run.
func (d *daemon) prune(ctx context.Context, cfg *config.Config, s storage.Store) string {
	started := time.Now()
	// A restore or verify reading the store keeps prune out; the daemon
	// does not wait for it: the next backup prunes. Not a failure.
	rl, err := pruneLockStore(ctx, nil, cfg.Storage, "mbackup daemon: prune")
	if errors.Is(err, lock.ErrReaders) {
		d.log.Warn("prune skipped: the next backup prunes", "reason", err)
		return "prune skipped (the next backup prunes): " + err.Error()
	}
	if err != nil {
		return d.pruneFailed(ctx, started, err)
	}
	defer rl.Release()
	rep, err := retention.Prune(ctx, retention.PruneOptions{
		Store: s, Policy: policyOf(cfg.Retention), Now: time.Now(), Log: logLines{d.log},
	})
	if err != nil {
		return d.pruneFailed(ctx, started, err)
	}
	d.obs.metrics.RunFinished("prune", "success", started, time.Now())
	d.obs.metrics.Pruned(len(rep.Deleted))
	return pruneSummary(rep, false)
}

// pruneFailed reports a failed prune as a run of its own and returns the
// backup's summary line.
func (d *daemon) pruneFailed(ctx context.Context, started time.Time, err error) string {
	d.log.Error("prune failed", "err", err)
	d.obs.jobDone(ctx, outcome{job: "prune", started: started, err: err, next: d.next("backup")})
	return "prune failed: " + err.Error()
}

// logLines logs each line written to it.
type logLines struct{ log *slog.Logger }

func (l logLines) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		if line != "" {
			l.log.Info("prune: " + line)
		}
	}
	return len(p), nil
}

// mirrorJob mirrors the media bucket, under the store's lock.
func (d *daemon) mirrorJob(ctx context.Context) {
	cfg := d.config()
	started := time.Now()
	l, err := lockStore(cfg.Storage, "mbackup daemon: mirror")
	if err != nil {
		d.notRun(ctx, cfg, "mirror", started, err)
		return
	}
	defer l.Release()
	err = withStore(ctx, cfg.Storage, func(s storage.Store) error {
		res, err := mirrorOnce(ctx, d.e, cfg, s, false, 8)
		d.obs.jobDone(ctx, outcome{job: "mirror", started: started, err: err, summary: mirrorSummary(res, false),
			mirror: &res, next: d.next("mirror")})
		return err
	})
	if err != nil {
		d.log.Error("mirror failed", "err", err)
	}
}

// notRun reports a scheduled run of job that did not start because the
// store's lock could not be taken (another run holds it, or the lock file
// is refused). Every such run is a failure for the metrics and Slack, the
// first one included: a scheduled backup that did not run is a backup
// missing, whoever held the lock, and the message names the holder, so a
// manual run that collided is recognised at once. (The scheduler's own
// skip of a run due while the previous one of the job still runs is only
// logged: that run reports its outcome when it ends.)
func (d *daemon) notRun(ctx context.Context, cfg *config.Config, job string, started time.Time, err error) {
	d.log.Error(job+" did not run", "err", err)
	// err names the holder and ends "this ... did not start".
	r := outcome{job: job, started: started, err: err, next: d.next(job)}
	withStore(ctx, cfg.Storage, func(s storage.Store) error { // the newest good snapshot, for the message
		r.newestGood, _ = d.obs.refresh(ctx, s)
		return nil
	})
	d.obs.jobDone(ctx, r)
}

// reading runs job under the store's readers' lock, so that a prune
// started meanwhile (by hand; the daemon's own skips) waits for it; it
// waits for a prune that runs.
func (d *daemon) reading(job string, run func(context.Context)) func(context.Context) {
	return func(ctx context.Context) {
		cfg := d.config()
		started := time.Now()
		rl, err := readLockStore(ctx, d.e, cfg.Storage, "mbackup daemon: "+job)
		if err != nil {
			d.notRun(ctx, cfg, job, started, err)
			return
		}
		defer rl.Release()
		run(ctx)
	}
}
