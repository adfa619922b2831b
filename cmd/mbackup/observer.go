package main

import (
	"context"
	"log/slog"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// outcome is the outcome of one job run, for logs, metrics and notifications.
type outcome struct {
	job      string
	started  time.Time
	manifest *snapshot.Manifest // the snapshot taken or checked, if any
	err      error
	summary  string // an extra line, such as what prune deleted
	next     time.Time
}

// result is success, partial or failure.
func (r outcome) result() string {
	switch {
	case r.err == nil:
		return "success"
	case r.manifest != nil && r.manifest.Status == snapshot.StatusPartial:
		return "partial"
	}
	return "failure"
}

// observer reports what the daemon's jobs did.
type observer struct {
	log *slog.Logger
}

func newObserver(cfg *config.Config, log *slog.Logger) (*observer, error) {
	return &observer{log: log}, nil
}

// refresh lists the store and returns the time of the newest complete
// snapshot, zero when there is none.
func (o *observer) refresh(ctx context.Context, s storage.Store) (time.Time, error) {
	entries, err := snapshot.List(ctx, s)
	if err != nil {
		return time.Time{}, err
	}
	for _, en := range entries {
		if en.Status == snapshot.StatusComplete {
			return en.Manifest.Started, nil
		}
	}
	return time.Time{}, nil
}

// backupDone reports a backup run.
func (o *observer) backupDone(ctx context.Context, cfg *config.Config, s storage.Store, r outcome) {
	r.job = "backup"
	o.jobDone(cfg, r)
}

// jobDone logs a run's outcome.
func (o *observer) jobDone(cfg *config.Config, r outcome) {
	attrs := []any{"job", r.job, "result", r.result(), "duration", time.Since(r.started).Round(time.Millisecond), "next", r.next.Format(time.RFC3339)}
	if r.manifest != nil {
		attrs = append(attrs, "snapshot", r.manifest.ID)
	}
	o.log.Info("run finished", attrs...)
}

// reconfigure takes the notification settings of a reloaded configuration.
func (o *observer) reconfigure(cfg *config.Config) {}

func (o *observer) close() {}
