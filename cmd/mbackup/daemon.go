package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"mbackup/internal/config"
	"mbackup/internal/mediasync"
	"mbackup/internal/metrics"
	"mbackup/internal/retention"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/task"
)

// runDaemon runs the configured schedules (internal/task) until its
// context ends (SIGTERM or SIGINT in main). SIGHUP reloads the
// configuration; a configuration that does not load is refused and the
// old one kept.
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
	log := e.logger()
	obs := task.NewObserver(log, metrics.New(task.Tasks...))
	if err := obs.Configure(cfg); err != nil {
		return &configError{err}
	}
	if addr := cfg.Metrics.Listen; addr != "" {
		if err := obs.Serve(addr); err != nil {
			return err
		}
	}
	defer obs.Close()
	d := task.NewDaemon(log, obs, daemonOps(e))
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := d.Start(ctx, cfg); err != nil {
		return &configError{err}
	}
	for {
		select {
		case <-ctx.Done():
			d.Stop()
			return nil
		case <-hup:
			d.Reload(ctx)
		}
	}
}

// daemonOps are the daemon's tasks made of this command's parts.
func daemonOps(e *env) task.Ops {
	return task.Ops{
		Load:  e.loadConfig,
		Open:  openStore,
		Locks: lockPlace,
		Take: func(ctx context.Context, cfg *config.Config, s storage.Store) (*snapshot.Manifest, error) {
			return takeSnapshot(ctx, e, cfg, s, nil)
		},
		Mirror: func(ctx context.Context, cfg *config.Config, s storage.Store) (mediasync.Result, string, error) {
			res, err := mirrorOnce(ctx, e, cfg, s, false, 8)
			return res, mirrorSummary(res, false), err
		},
		Drill: func(ctx context.Context, cfg *config.Config, s storage.Store) (*snapshot.Manifest, string, error) {
			return drillScheduled(ctx, cfg, s)
		},
		PruneSummary: func(rep retention.PruneReport) string { return pruneSummary(rep, false) },
		Waiting:      func(msg string) { fmt.Fprintln(e.stderr, msg) },
	}
}
