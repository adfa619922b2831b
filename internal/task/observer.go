package task

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/drill"
	"mbackup/internal/explain"
	"mbackup/internal/mediasync"
	"mbackup/internal/metrics"
	"mbackup/internal/notify"
	"mbackup/internal/ping"
	"mbackup/internal/shrink"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// Observer reports what runs did: to the log, to Slack and to the
// metrics. A failed notification never fails a run. Its methods are safe
// for concurrent use.
type Observer struct {
	log     *slog.Logger
	metrics *metrics.Metrics
	srv     *http.Server // nil until Serve

	mu          sync.Mutex
	slack       *notify.Slack // nil when not configured
	pinger      *ping.Pinger  // nil when not configured
	host        string
	mirrorIndex string      // the media mirror's index key; "" without media
	drills      drill.Found // the drill records, as the last Refresh read them
}

// NewObserver reports to log and m; it posts nothing until Configure.
func NewObserver(log *slog.Logger, m *metrics.Metrics) *Observer {
	return &Observer{log: log, metrics: m}
}

// Configure takes the notification settings of cfg; on an error the old
// ones stay.
func (o *Observer) Configure(cfg *config.Config) error {
	var s *notify.Slack
	if cfg.Notify != nil && cfg.Notify.Slack != nil {
		c := cfg.Notify.Slack
		var err error
		s, err = notify.NewSlack(notify.Config{
			WebhookURL: c.WebhookURL.Reveal(), Token: c.Token.Reveal(), Channel: c.Channel, On: c.On,
			Secrets: Secrets(cfg),
		})
		if err != nil {
			return err
		}
	}
	p, err := newPinger(cfg)
	if err != nil {
		return err
	}
	o.mu.Lock()
	o.slack, o.pinger, o.host = s, p, cfg.Host
	o.mirrorIndex = ""
	if cfg.Media != nil {
		o.mirrorIndex = mediasync.IndexKey(cfg.Media.Prefix)
	}
	o.mu.Unlock()
	return nil
}

// Serve serves the metrics on addr's /metrics until Close.
func (o *Observer) Serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s (metrics.listen): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", o.metrics.Handler())
	o.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go o.srv.Serve(ln)
	o.log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return nil
}

// Close stops serving the metrics.
func (o *Observer) Close() {
	if o.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		o.srv.Shutdown(ctx)
	}
}

// Refresh lists the store, records what it holds in the metrics (and the
// drill records and traces of past runs: see fromStore) and returns the
// time of the newest good snapshot (snapshot.NewestGood: complete, not
// dated in the future), zero when there is none. Unreadable and
// future-dated snapshots are logged.
func (o *Observer) Refresh(ctx context.Context, s storage.Store) (time.Time, error) {
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
	var newest, newestEnd time.Time
	if g, ok := snapshot.NewestGood(entries, time.Now()); ok {
		newest, newestEnd = g.Manifest.Started, g.Manifest.Finished
	}
	drills := o.fromStore(ctx, s, newestEnd)
	o.mu.Lock()
	o.drills = drills
	o.mu.Unlock()
	o.metrics.SetSnapshots(metrics.SnapshotCounts{
		Complete: count[snapshot.StatusComplete], Partial: count[snapshot.StatusPartial], Incomplete: count[snapshot.StatusIncomplete],
		Unreadable: count[snapshot.StatusUnreadable], NewerFormat: count[snapshot.StatusNewerFormat], Future: future,
	}, newest)
	return newest, nil
}

// NewestTimeout bounds the listing that looks up the newest good snapshot
// for a report (Observer.Newest).
const NewestTimeout = 30 * time.Second

// Newest is Refresh under a deadline of its own, NewestTimeout, that the
// run's cancellation does not reach: a run cancelled by Ctrl-C or SIGTERM
// still reports what the store holds. ok is false when the listing
// failed (it is logged): the message then leaves the line out.
func (o *Observer) Newest(ctx context.Context, s storage.Store) (newest time.Time, ok bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), NewestTimeout)
	defer cancel()
	newest, err := o.Refresh(ctx, s)
	if err != nil {
		o.log.Warn("cannot list the snapshots for the report: it leaves the newest good snapshot out", "err", err)
		return time.Time{}, false
	}
	return newest, true
}

// Done reports a finished run: it logs it, records it in the metrics, and
// sends its final ping and posts it to Slack when configured.
func (o *Observer) Done(ctx context.Context, r Outcome) {
	finished := time.Now()
	attrs := []any{"job", r.Task, "result", r.Result(), "duration", finished.Sub(r.Started).Round(time.Millisecond).String()}
	attrs = append(attrs, TimeAttr("next", r.Next)...)
	if r.Manifest != nil {
		attrs = append(attrs, "snapshot", r.Manifest.ID)
	}
	o.log.Info("run finished", attrs...)
	o.count(r, finished)
	o.pingFinished(ctx, r, finished)
	o.mu.Lock()
	s, host, drills := o.slack, o.host, o.drills
	o.mu.Unlock()
	if s == nil {
		return
	}
	e := event(r, host, finished)
	e.LastDrill = drills.Line(finished)
	if err := s.Notify(context.WithoutCancel(ctx), e); err != nil {
		o.log.Error("notification failed (the run itself is not affected)", "job", r.Task, "err", err)
		o.metrics.NotifyFailed()
	}
}

// count records a run finished at finished in the metrics only: a run
// another one's report tells of.
func (o *Observer) count(r Outcome, finished time.Time) {
	o.metrics.RunFinished(r.Task, r.Result(), r.Started, finished)
	if r.Task == Backup || r.Task == Mirror {
		o.metrics.SetStorageCap(r.Task, explain.StorageCap(r.Err))
	}
	if m := r.Mirror; m != nil {
		o.metrics.SetMirror(int(m.Copied), int(m.Unchanged), int(m.Deleted), int(m.Failed), m.CopiedBytes)
		o.metrics.SetMirrorThrottles(m.SourceThrottling.Throttles, m.StoreThrottling.Throttles)
	}
	if m := r.Manifest; m != nil && r.Task == Backup {
		var arts []metrics.Artifact
		for _, a := range m.Artifacts {
			arts = append(arts, metrics.Artifact{Component: a.Component, Name: a.Name, Bytes: a.StoredBytes})
		}
		o.metrics.SetArtifacts(arts)
		o.metrics.SetShrunk(len(m.Shrunk))
	}
}

// event describes r for Slack.
func event(r Outcome, host string, finished time.Time) notify.Event {
	e := notify.Event{Job: r.Task, Result: r.Result(), Host: host, Started: r.Started, Finished: finished,
		Summary: r.Summary, NewestKnown: r.NewestKnown, NewestGood: r.NewestGood, NextRun: r.Next}
	if m := r.Manifest; m != nil {
		e.SnapshotID = m.ID
		for _, a := range m.Artifacts {
			e.Artifacts = append(e.Artifacts, notify.Artifact{Component: a.Component, Name: a.Name, Bytes: a.StoredBytes})
		}
		for _, f := range m.Failed {
			e.Failures = append(e.Failures, notify.Failure{What: f.Component + "/" + f.Name, Reason: f.Reason})
		}
		if r.Task == Backup {
			e.Warnings = shrink.Warnings(m)
		}
	}
	if m := r.Mirror; m != nil {
		for _, f := range m.Failures {
			e.Failures = append(e.Failures, notify.Failure{What: f.Key, Reason: f.Err.Error()})
		}
	}
	if r.Err != nil && (r.Manifest == nil || r.Task != Backup) {
		// The line names the task already: "backup: backup: ..." says nothing twice.
		reason := strings.TrimPrefix(r.Err.Error(), r.Task+": ")
		e.Failures = append(e.Failures, notify.Failure{What: r.Task, Reason: reason})
	}
	return e
}

// Secrets are the secrets of cfg, never to appear in a message.
func Secrets(cfg *config.Config) []string {
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
	ss = append(ss, pingSecrets(cfg)...)
	var out []string
	for _, s := range ss {
		if v := s.Reveal(); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Report reports a run of a one-shot command: to Slack and its final
// dead-man ping when post is set and they are configured, and to a
// node_exporter textfile when textfile is set. A failed notification is logged, never returned; the
// error is the textfile's.
func Report(ctx context.Context, log *slog.Logger, cfg *config.Config, s storage.Store, r Outcome, post bool, textfile string) error {
	o := NewObserver(log, metrics.New(r.Task))
	if post {
		if err := o.Configure(cfg); err != nil {
			o.log.Error("notification not sent", "err", err)
		}
	}
	r.NewestGood, r.NewestKnown = o.Newest(ctx, s)
	o.Done(ctx, r)
	if textfile == "" {
		return nil
	}
	return o.metrics.WriteTextfile(textfile)
}
