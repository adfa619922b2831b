package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/mediasync"
	"mbackup/internal/metrics"
	"mbackup/internal/notify"
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
	// newestGood is the time of the newest complete snapshot after the run.
	newestGood time.Time
	mirror     *mediasync.Result // what a mirror run did
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

// observer reports what the daemon's jobs did: to the log, to Slack and
// to the metrics. A failed notification never fails a job.
type observer struct {
	log     *slog.Logger
	metrics *metrics.Metrics
	srv     *http.Server // nil when metrics.listen is ""

	mu    sync.Mutex
	slack *notify.Slack // nil when not configured
	host  string
}

func newObserver(cfg *config.Config, log *slog.Logger) (*observer, error) {
	o := &observer{log: log, metrics: metrics.New("backup", "mirror", "prune", "verify")}
	if err := o.reconfigure(cfg); err != nil {
		return nil, &configError{err}
	}
	if addr := cfg.Metrics.Listen; addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("metrics: listen on %s (metrics.listen): %w", addr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", o.metrics.Handler())
		o.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go o.srv.Serve(ln)
		log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	}
	return o, nil
}

// reconfigure takes the notification settings of cfg.
func (o *observer) reconfigure(cfg *config.Config) error {
	var s *notify.Slack
	if cfg.Notify != nil && cfg.Notify.Slack != nil {
		c := cfg.Notify.Slack
		var err error
		s, err = notify.NewSlack(notify.Config{
			WebhookURL: c.WebhookURL.Reveal(), Token: c.Token.Reveal(), Channel: c.Channel, On: c.On,
			Secrets: configSecrets(cfg),
		})
		if err != nil {
			return err
		}
	}
	o.mu.Lock()
	o.slack, o.host = s, cfg.Host
	o.mu.Unlock()
	return nil
}

// refresh lists the store and returns the time of the newest good
// snapshot (snapshot.NewestGood: complete, not dated in the future), zero
// when there is none. Unreadable and future-dated snapshots are logged.
func (o *observer) refresh(ctx context.Context, s storage.Store) (time.Time, error) {
	entries, err := snapshot.List(ctx, s)
	if err != nil {
		return time.Time{}, err
	}
	count, future := map[string]int{}, 0
	for _, en := range entries {
		count[en.Status]++
		if en.Future {
			future++
		}
		switch {
		case en.Reason != "":
			o.log.Warn("snapshot left alone: its manifest does not load", "snapshot", en.ID, "status", en.Status, "reason", en.Reason)
		case en.Future:
			o.log.Warn("snapshot dated in the future: never taken as the newest", "snapshot", en.ID, "date", en.Date().UTC().Format(time.RFC3339))
		}
	}
	var newest time.Time
	if g, ok := snapshot.NewestGood(entries, time.Now()); ok {
		newest = g.Manifest.Started
	}
	o.metrics.SetSnapshots(metrics.SnapshotCounts{
		Complete: count[snapshot.StatusComplete], Partial: count[snapshot.StatusPartial], Incomplete: count[snapshot.StatusIncomplete],
		Unreadable: count[snapshot.StatusUnreadable], NewerFormat: count[snapshot.StatusNewerFormat], Future: future,
	}, newest)
	return newest, nil
}

// jobDone logs a run's outcome and posts it.
func (o *observer) jobDone(ctx context.Context, r outcome) {
	finished := time.Now()
	attrs := []any{"job", r.job, "result", r.result(), "duration", finished.Sub(r.started).Round(time.Millisecond), "next", r.next.Format(time.RFC3339)}
	if r.manifest != nil {
		attrs = append(attrs, "snapshot", r.manifest.ID)
	}
	o.log.Info("run finished", attrs...)
	o.metrics.RunFinished(r.job, r.result(), r.started, finished)
	if m := r.mirror; m != nil {
		o.metrics.SetMirror(int(m.Copied), int(m.Unchanged), int(m.Deleted), int(m.Failed), m.CopiedBytes)
	}
	if m := r.manifest; m != nil && r.job == "backup" {
		var arts []metrics.Artifact
		for _, a := range m.Artifacts {
			arts = append(arts, metrics.Artifact{Component: a.Component, Name: a.Name, Bytes: a.StoredBytes})
		}
		o.metrics.SetArtifacts(arts)
	}
	o.mu.Lock()
	s, host := o.slack, o.host
	o.mu.Unlock()
	if s == nil {
		return
	}
	if err := s.Notify(context.WithoutCancel(ctx), o.event(r, host, finished)); err != nil {
		o.log.Error("notification failed (the run itself is not affected)", "job", r.job, "err", err)
		o.metrics.NotifyFailed()
	}
}

// event describes r for Slack.
func (o *observer) event(r outcome, host string, finished time.Time) notify.Event {
	e := notify.Event{Job: r.job, Result: r.result(), Host: host, Started: r.started, Finished: finished,
		Summary: r.summary, NewestGood: r.newestGood, NextRun: r.next}
	if m := r.manifest; m != nil {
		e.SnapshotID = m.ID
		for _, a := range m.Artifacts {
			e.Artifacts = append(e.Artifacts, notify.Artifact{Component: a.Component, Name: a.Name, Bytes: a.StoredBytes})
		}
		for _, f := range m.Failed {
			e.Failures = append(e.Failures, notify.Failure{What: f.Component + "/" + f.Name, Reason: f.Reason})
		}
	}
	if m := r.mirror; m != nil {
		for _, f := range m.Failures {
			e.Failures = append(e.Failures, notify.Failure{What: f.Key, Reason: f.Err.Error()})
		}
	}
	if r.err != nil && (r.manifest == nil || r.job != "backup") {
		e.Failures = append(e.Failures, notify.Failure{What: r.job, Reason: r.err.Error()})
	}
	return e
}

// close stops serving metrics.
func (o *observer) close() {
	if o.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		o.srv.Shutdown(ctx)
	}
}

// configSecrets are the secrets of cfg, never to appear in a message.
func configSecrets(cfg *config.Config) []string {
	ss := []config.Secret{cfg.Storage.ApplicationKey, cfg.Storage.SecretAccessKey}
	if cfg.Postgres != nil {
		ss = append(ss, cfg.Postgres.Password)
	}
	if cfg.MySQL != nil {
		ss = append(ss, cfg.MySQL.Password)
	}
	for _, r := range cfg.Redis {
		ss = append(ss, r.Password)
	}
	if cfg.Media != nil {
		ss = append(ss, cfg.Media.Source.SecretAccessKey)
	}
	if cfg.Notify != nil && cfg.Notify.Slack != nil {
		ss = append(ss, cfg.Notify.Slack.WebhookURL, cfg.Notify.Slack.Token)
	}
	var out []string
	for _, s := range ss {
		if v := s.Reveal(); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// reportRun reports a run of a one-shot command: to Slack when
// configured and notify is set, and to a node_exporter textfile when
// textfile is set. A failed notification is logged, never returned.
func reportRun(ctx context.Context, e *env, cfg *config.Config, s storage.Store, r outcome, notify bool, textfile string) error {
	o := &observer{log: e.logger(), metrics: metrics.New(r.job)}
	if notify {
		if err := o.reconfigure(cfg); err != nil {
			o.log.Error("notification not sent", "err", err)
		}
	}
	var err error
	if r.newestGood, err = o.refresh(ctx, s); err != nil {
		o.log.Warn("cannot list the snapshots for the report", "err", err)
	}
	o.jobDone(ctx, r)
	if textfile == "" {
		return nil
	}
	if err := o.metrics.WriteTextfile(textfile); err != nil {
		return fmt.Errorf("--metrics-textfile: %w", err)
	}
	return nil
}
