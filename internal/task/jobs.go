package task

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/lock"
	"mbackup/internal/retention"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// backup takes a snapshot and prunes, under the store's writers' lock.
func (d *Daemon) backup(ctx context.Context) {
	cfg := d.config()
	started := d.ops.Now()
	d.obs.Started(ctx, Backup)
	l, err := d.writing(cfg.Storage, Backup)
	if err != nil {
		d.notRun(ctx, cfg, Backup, started, err)
		return
	}
	defer l.Release()
	err = d.withStore(ctx, cfg.Storage, func(s storage.Store) error {
		m, err := d.ops.Take(ctx, cfg, s)
		r := Outcome{Task: Backup, Started: started, Manifest: m, Err: err}
		if ctx.Err() == nil {
			r.Summary = d.prune(ctx, cfg, s)
		}
		r.NewestGood, r.NewestKnown = d.obs.Newest(ctx, s) // also when cancelled: see Newest
		r.Next = d.next(Backup)
		d.obs.Done(ctx, r)
		return err
	})
	if err != nil {
		d.log.Error("backup failed", "err", err)
	}
}

// verify checks the signature and the stored hashes of the newest good
// snapshot (snapshot.NewestGood). A listing that fails or a store without
// a good snapshot is a failed run, counted and posted like any other.
func (d *Daemon) verify(ctx context.Context) {
	cfg := d.config()
	r := Outcome{Task: Verify, Started: d.ops.Now()}
	r.Err = d.withStore(ctx, cfg.Storage, func(s storage.Store) error {
		entries, err := snapshot.List(ctx, s)
		if err != nil {
			return err
		}
		g, ok := snapshot.NewestGood(entries, d.ops.Now())
		r.NewestKnown = true
		if !ok {
			return fmt.Errorf("verify: the store holds no good snapshot (complete, not dated in the future) among %d listed: mbackup list shows them", len(entries))
		}
		r.Manifest, r.NewestGood = g.Manifest, g.Manifest.Started
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
	r.Next = d.next(Verify)
	d.obs.Done(ctx, r)
	if r.Err != nil {
		d.log.Error("verify failed", "err", r.Err)
	}
}

// drill drills the newest complete snapshot (Ops.Drill), which records
// its result in the store; the metrics then read it back from there.
func (d *Daemon) drill(ctx context.Context) {
	cfg := d.config()
	r := Outcome{Task: Drill, Started: d.ops.Now()}
	r.Err = d.withStore(ctx, cfg.Storage, func(s storage.Store) error {
		var err error
		r.Manifest, r.Summary, err = d.ops.Drill(ctx, cfg, s)
		r.NewestGood, r.NewestKnown = d.obs.Newest(ctx, s)
		return err
	})
	r.Next = d.next(Drill)
	d.obs.Done(ctx, r)
	if r.Err != nil {
		d.log.Error("drill failed", "err", r.Err)
	}
}

// prune applies retention after a backup and returns its summary line. A
// restore or verify reading the store keeps it out: the daemon does not
// wait, the next backup prunes; that is not a failure. A prune that fails
// is not the backup's failure: it is logged, told in the summary, and
// counted and posted as a failed prune run.
func (d *Daemon) prune(ctx context.Context, cfg *config.Config, s storage.Store) string {
	started := d.ops.Now()
	p, err := d.ops.Locks(cfg.Storage)
	if err != nil {
		return d.pruneFailed(ctx, started, err)
	}
	rl, err := lock.ExcludeReaders(ctx, p, "mbackup daemon: "+Prune, nil)
	if errors.Is(err, lock.ErrReaders) {
		d.log.Warn("prune skipped: the next backup prunes", "reason", err)
		return "prune skipped (the next backup prunes): " + err.Error()
	}
	if err != nil {
		return d.pruneFailed(ctx, started, err)
	}
	defer rl.Release()
	d.obs.Started(ctx, Prune) // not before: a prune skipped is no run
	rep, err := retention.Prune(ctx, retention.PruneOptions{
		Store: s, Policy: Policy(cfg.Retention), Now: d.ops.Now(), Log: logLines{d.log},
	})
	if err != nil {
		return d.pruneFailed(ctx, started, err)
	}
	summary := d.ops.PruneSummary(rep)
	r := Outcome{Task: Prune, Started: started, Summary: summary, Next: d.next(Backup)}
	d.obs.count(r, d.ops.Now())
	d.obs.metrics.Pruned(len(rep.Deleted))
	d.obs.pingFinished(ctx, r, d.ops.Now()) // its message is the backup's
	return summary
}

// pruneFailed reports a failed prune as a run of its own and returns the
// backup's summary line.
func (d *Daemon) pruneFailed(ctx context.Context, started time.Time, err error) string {
	d.log.Error("prune failed", "err", err)
	d.obs.Done(ctx, Outcome{Task: Prune, Started: started, Err: err, Next: d.next(Backup)})
	return "prune failed: " + err.Error()
}

// Policy is the retention policy of the configuration.
func Policy(r config.Retention) retention.Policy {
	return retention.Policy{
		KeepWithin: r.KeepWithin.Std(), KeepLast: r.KeepLast,
		KeepDaily: r.KeepDaily, KeepWeekly: r.KeepWeekly, KeepMonthly: r.KeepMonthly,
	}
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

// mirror mirrors the media bucket, under the store's writers' lock.
func (d *Daemon) mirror(ctx context.Context) {
	cfg := d.config()
	started := d.ops.Now()
	d.obs.Started(ctx, Mirror)
	l, err := d.writing(cfg.Storage, Mirror)
	if err != nil {
		d.notRun(ctx, cfg, Mirror, started, err)
		return
	}
	defer l.Release()
	err = d.withStore(ctx, cfg.Storage, func(s storage.Store) error {
		res, summary, err := d.ops.Mirror(ctx, cfg, s)
		d.obs.Done(ctx, Outcome{Task: Mirror, Started: started, Err: err, Summary: summary, Mirror: &res, Next: d.next(Mirror)})
		return err
	})
	if err != nil {
		d.log.Error("mirror failed", "err", err)
	}
}

// writing takes the store's writers' lock for task, without waiting.
func (d *Daemon) writing(c config.Storage, task string) (*lock.Lock, error) {
	p, err := d.ops.Locks(c)
	if err != nil {
		return nil, err
	}
	return lock.Acquire(p, "mbackup daemon: "+task)
}

// notRun reports a scheduled run of task that did not start because the
// store's lock could not be taken (another run holds it, or the lock file
// is refused). Every such run is a failure for the metrics and Slack, the
// first one included: a scheduled backup that did not run is a backup
// missing, whoever held the lock, and the message names the holder, so a
// manual run that collided is recognised at once. (The scheduler's own
// skip of a run due while the previous one of the task still runs is only
// logged: that run reports its outcome when it ends.)
func (d *Daemon) notRun(ctx context.Context, cfg *config.Config, task string, started time.Time, err error) {
	d.log.Error(task+" did not run", "err", err)
	// err names the holder and ends "this ... did not start".
	r := Outcome{Task: task, Started: started, Err: err, Next: d.next(task)}
	d.withStore(ctx, cfg.Storage, func(s storage.Store) error { // the newest good snapshot, for the message
		r.NewestGood, r.NewestKnown = d.obs.Newest(ctx, s)
		return nil
	})
	d.obs.Done(ctx, r)
}

// reading runs task under the store's readers' lock, so that a prune
// started meanwhile (by hand; the daemon's own skips) waits for it; it
// waits for a prune that runs.
func (d *Daemon) reading(task string, run func(context.Context)) func(context.Context) {
	return func(ctx context.Context) {
		cfg := d.config()
		started := d.ops.Now()
		d.obs.Started(ctx, task)
		rl, err := d.sharing(ctx, cfg.Storage, task)
		if err != nil {
			d.notRun(ctx, cfg, task, started, err)
			return
		}
		defer rl.Release()
		run(ctx)
	}
}

// sharing takes the store's readers' lock shared for task, waiting while
// a prune holds it.
func (d *Daemon) sharing(ctx context.Context, c config.Storage, task string) (*lock.Lock, error) {
	p, err := d.ops.Locks(c)
	if err != nil {
		return nil, err
	}
	return lock.Share(ctx, p, "mbackup daemon: "+task, d.ops.Waiting)
}
