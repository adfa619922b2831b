// Package metrics holds every Prometheus series mbackup exports, on a private
// registry: the daemon serves it on /metrics (Handler) and one-shot commands
// write it for node_exporter's textfile collector (WriteTextfile).
//
// Invariant: every mbackup_* series is declared in this package (this
// file, and drill.go for the drill's), listed by
// Names and documented below, and these are exactly the series that
// configs/prometheus/mbackup-alerts.yaml and configs/grafana/mbackup.json
// query. configs_test.go fails when an alert or a panel names a series that
// is not here, or when Names and what the registry exposes disagree. Change
// the three together.
//
// The scheduled unit of work (backup, mirror, prune, verify) is the label
// "task", not "job": Prometheus attaches its own job and instance labels to
// every scraped series and would rename a scraped "job" to "exported_job".
//
// Series (besides the standard go_* and process_* of the daemon):
//
//	mbackup_last_success_timestamp_seconds{task}       gauge: end of the last successful run, Unix seconds
//	mbackup_last_run_timestamp_seconds{task,result}    gauge: end of the last run; one series per task,
//	                                                   labelled with that run's result (success|partial|failure)
//	mbackup_run_duration_seconds{task}                 gauge: duration of the last run
//	mbackup_runs_total{task,result}                    counter: finished runs
//	mbackup_artifact_bytes{component,database}         gauge: stored bytes of each artifact of the last snapshot
//	mbackup_snapshots{status}                          gauge: snapshots in the store by status (complete|partial|incomplete|
//	                                                   unreadable|newer-format); status="future" counts those of them
//	                                                   dated more than an hour ahead (also counted under their status)
//	mbackup_newest_good_snapshot_timestamp_seconds     gauge: time of the newest complete snapshot; 0 when there is none
//	mbackup_newest_good_snapshot_age_seconds           gauge: now minus the above, computed at scrape time; absent when there is none
//	mbackup_pruned_total                               counter: snapshots deleted by retention
//	mbackup_notify_failures_total                      counter: notifications that could not be delivered
//	mbackup_ping_failures_total{task}                  counter: dead-man pings (start, success or fail) not delivered
//	mbackup_mirror_objects{action}                     gauge: objects of the last media mirror run (copied|skipped|deleted|failed)
//	mbackup_mirror_bytes                               gauge: bytes copied by the last media mirror run
//	mbackup_mirror_throttles{side}                     gauge: 429 and 503 answers in the last media mirror run, by side
//	                                                   (source|store); each paused the run and may have lowered its rate
//	mbackup_drill_last_success_timestamp_seconds       gauge: end of the newest successful restore drill in the store;
//	                                                   0 when drills ran and none succeeded
//	mbackup_drill_last_ok                              gauge: 1 when the newest drill in the store succeeded, else 0
//	mbackup_drill_duration_seconds                     gauge: duration of the newest successful drill (its RTO)
//	mbackup_drill_restore_seconds{component}           gauge: restore time of each component in that drill
//	mbackup_shrunk_artifacts                           gauge: artifacts of the last snapshot taken that the shrink guard
//	                                                   flagged (much smaller than, or missing since, the previous one)
//	mbackup_storage_cap_reached{task}                  gauge: 1 when the last run of the task (backup, mirror) failed,
//	                                                   in whole or in part, because the store refused a write at the
//	                                                   account's storage cap (B2 storage_cap_exceeded), else 0
//
// Series that describe something not yet observed by this process are absent
// rather than zero: the snapshot series until the store has been listed once
// (SetSnapshots), the mirror series until a mirror run (SetMirror), the
// per-task gauges until that task has run (or SeedLastSuccess read its last
// success from the store), the drill series until drill records were
// found in the store (SetDrill). The counters are exported at zero from
// the start (runs_total and ping_failures_total for the tasks given to
// New), so that increase() sees the first event. Gauges are process state:
// after a restart the per-task gauges are absent until the task runs
// again, except the last success of backup, mirror and drill, which the
// daemon seeds from the store at start; the snapshot and drill series
// come from the store and survive restarts.
package metrics

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Results of a run, the values of the result label.
const (
	Success = "success"
	Partial = "partial"
	Failure = "failure"
)

// Results lists the values of the result label.
var Results = []string{Success, Partial, Failure}

// Series names.
const (
	LastSuccessTimestamp   = "mbackup_last_success_timestamp_seconds"
	LastRunTimestamp       = "mbackup_last_run_timestamp_seconds"
	RunDuration            = "mbackup_run_duration_seconds"
	RunsTotal              = "mbackup_runs_total"
	ArtifactBytes          = "mbackup_artifact_bytes"
	Snapshots              = "mbackup_snapshots"
	NewestGoodSnapshotTime = "mbackup_newest_good_snapshot_timestamp_seconds"
	NewestGoodSnapshotAge  = "mbackup_newest_good_snapshot_age_seconds"
	PrunedTotal            = "mbackup_pruned_total"
	NotifyFailuresTotal    = "mbackup_notify_failures_total"
	PingFailuresTotal      = "mbackup_ping_failures_total"
	MirrorObjects          = "mbackup_mirror_objects"
	MirrorBytes            = "mbackup_mirror_bytes"
	MirrorThrottles        = "mbackup_mirror_throttles"
	ShrunkArtifacts        = "mbackup_shrunk_artifacts"
	StorageCapReached      = "mbackup_storage_cap_reached"
)

// Labels of the per-task series.
const (
	TaskLabel   = "task"   // backup, mirror, prune, verify
	ResultLabel = "result" // one of Results
)

const (
	namePrefix                          = "mbackup_"
	componentLabel, dbLabel             = "component", "database"
	statusLabel, actionLabel, sideLabel = "status", "action", "side"
	textfileTempPattern                 = ".%s.tmp*"
)

// Names returns the name of every mbackup_* series this package exports,
// sorted. The go_* and process_* series of the daemon are not included.
func Names() []string {
	return []string{
		ArtifactBytes,
		DrillDuration,
		DrillLastOK,
		DrillLastSuccessTimestamp,
		DrillRestoreSeconds,
		LastRunTimestamp,
		LastSuccessTimestamp,
		MirrorBytes,
		MirrorObjects,
		MirrorThrottles,
		NewestGoodSnapshotAge,
		NewestGoodSnapshotTime,
		NotifyFailuresTotal,
		PingFailuresTotal,
		PrunedTotal,
		RunDuration,
		RunsTotal,
		ShrunkArtifacts,
		Snapshots,
		StorageCapReached,
	}
}

// Artifact is one stored file of a snapshot.
type Artifact struct {
	Component string // postgres, redis, mysql, files
	Name      string // database, Redis instance name or files entry; "globals" for pg_dumpall --globals-only
	Bytes     int64  // stored (compressed, encrypted) bytes
}

// Metrics is the registry and its series. Its methods are safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	lastSuccess    *prometheus.GaugeVec
	lastRun        *prometheus.GaugeVec
	runDuration    *prometheus.GaugeVec
	runs           *prometheus.CounterVec
	artifactBytes  *prometheus.GaugeVec
	snapshots      *prometheus.GaugeVec
	pruned         prometheus.Counter
	notifyFailures prometheus.Counter
	pingFailures   *prometheus.CounterVec
	mirrorObjects  *prometheus.GaugeVec
	mirrorBytes    *prometheus.GaugeVec // no labels: absent until the first SetMirror
	mirrorThrottle *prometheus.GaugeVec
	shrunk         *prometheus.GaugeVec // no labels: absent until the first SetShrunk
	storageCap     *prometheus.GaugeVec // per task: absent until its first SetStorageCap

	newest *newestGood

	drill           drillSeries
	drillRegistered bool // the drill series, at the first SetDrill

	mu        sync.Mutex      // serializes updates that touch several series of a vector
	succeeded map[string]bool // tasks this process saw succeed, which SeedLastSuccess leaves alone
}

// New returns Metrics on a fresh registry that also holds the Go runtime and
// process collectors. runs_total is exported at zero for each of tasks and
// every result, and ping_failures_total for each of tasks, so that the
// first failure of a task shows in increase().
func New(tasks ...string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: LastSuccessTimestamp,
			Help: "End of the last successful run of the task, in Unix seconds.",
		}, []string{TaskLabel}),
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: LastRunTimestamp,
			Help: "End of the last run of the task, in Unix seconds; labelled with that run's result (one series per task).",
		}, []string{TaskLabel, ResultLabel}),
		runDuration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: RunDuration,
			Help: "Duration of the last run of the task, in seconds.",
		}, []string{TaskLabel}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: RunsTotal,
			Help: "Finished runs of the task by result (success, partial, failure).",
		}, []string{TaskLabel, ResultLabel}),
		artifactBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: ArtifactBytes,
			Help: "Stored bytes of each artifact of the last snapshot taken.",
		}, []string{componentLabel, dbLabel}),
		snapshots: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: Snapshots,
			Help: "Snapshots in the store by status (complete, partial, incomplete, unreadable, newer-format); future: those dated over an hour ahead.",
		}, []string{statusLabel}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: PrunedTotal,
			Help: "Snapshots deleted by retention.",
		}),
		notifyFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: NotifyFailuresTotal,
			Help: "Notifications (Slack) that could not be delivered.",
		}),
		pingFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: PingFailuresTotal,
			Help: "Dead-man pings of the task (start, success or fail) that could not be delivered.",
		}, []string{TaskLabel}),
		mirrorObjects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MirrorObjects,
			Help: "Objects of the last media mirror run by action (copied, skipped, deleted, failed).",
		}, []string{actionLabel}),
		mirrorBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MirrorBytes,
			Help: "Bytes copied by the last media mirror run.",
		}, nil),
		mirrorThrottle: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MirrorThrottles,
			Help: "429 and 503 answers in the last media mirror run, by side (source, store).",
		}, []string{sideLabel}),
		shrunk: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: ShrunkArtifacts,
			Help: "Artifacts of the last snapshot taken flagged by the shrink guard (much smaller than, or missing since, the previous complete snapshot).",
		}, nil),
		storageCap: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: StorageCapReached,
			Help: "1 when the last run of the task failed, in whole or in part, because the store refused a write at the account's storage cap; else 0.",
		}, []string{TaskLabel}),
		newest:    newNewestGood(time.Now),
		drill:     newDrillSeries(),
		succeeded: map[string]bool{},
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.lastSuccess, m.lastRun, m.runDuration, m.runs,
		m.artifactBytes, m.snapshots, m.pruned, m.notifyFailures, m.pingFailures,
		m.mirrorObjects, m.mirrorBytes, m.mirrorThrottle, m.newest, m.shrunk, m.storageCap,
	)
	for _, t := range tasks {
		for _, r := range Results {
			m.runs.WithLabelValues(t, r)
		}
		m.pingFailures.WithLabelValues(t)
	}
	return m
}

// RunFinished records a finished run of task (backup, mirror, prune,
// verify) with result Success, Partial or Failure. It panics on any other
// result: the label's values are a closed set the alerts rely on.
func (m *Metrics) RunFinished(task, result string, started, finished time.Time) {
	if !slices.Contains(Results, result) {
		panic(fmt.Sprintf("metrics: run result %q is not one of %v", result, Results))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range Results {
		m.runs.WithLabelValues(task, r) // exported at zero from now on
		if r != result {
			m.lastRun.DeleteLabelValues(task, r)
		}
	}
	m.runs.WithLabelValues(task, result).Inc()
	m.lastRun.WithLabelValues(task, result).Set(unixSeconds(finished))
	m.runDuration.WithLabelValues(task).Set(finished.Sub(started).Seconds())
	if result == Success {
		m.lastSuccess.WithLabelValues(task).Set(unixSeconds(finished))
		m.succeeded[task] = true
	}
}

// SetArtifacts replaces the artifact sizes with those of the snapshot just
// taken: databases that are no longer dumped disappear.
func (m *Metrics) SetArtifacts(artifacts []Artifact) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.artifactBytes.Reset()
	for _, a := range artifacts {
		m.artifactBytes.WithLabelValues(a.Component, a.Name).Set(float64(a.Bytes))
	}
}

// SetShrunk records how many artifacts of the snapshot just taken the
// shrink guard flagged.
func (m *Metrics) SetShrunk(n int) { m.shrunk.WithLabelValues().Set(float64(n)) }

// SetStorageCap records whether the last run of task (backup, mirror)
// hit the store's storage cap.
func (m *Metrics) SetStorageCap(task string, reached bool) {
	v := 0.0
	if reached {
		v = 1
	}
	m.storageCap.WithLabelValues(task).Set(v)
}

// SetSnapshots records what a listing of the store found: the number of
// snapshots by status and the time of the newest complete one (the zero
// time when there is none, exported as timestamp 0 so that an alert on its
// age fires).
func (m *Metrics) SetSnapshots(c SnapshotCounts, newestGood time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for status, n := range map[string]int{"complete": c.Complete, "partial": c.Partial, "incomplete": c.Incomplete,
		"unreadable": c.Unreadable, "newer-format": c.NewerFormat, "future": c.Future} {
		m.snapshots.WithLabelValues(status).Set(float64(n))
	}
	m.newest.set(newestGood)
}

// SnapshotCounts are what a listing of the store found. Future counts the
// snapshots dated more than an hour ahead, whatever their status.
type SnapshotCounts struct {
	Complete, Partial, Incomplete, Unreadable, NewerFormat, Future int
}

// Pruned counts n snapshots deleted by retention.
func (m *Metrics) Pruned(n int) {
	if n > 0 {
		m.pruned.Add(float64(n))
	}
}

// NotifyFailed counts one notification that could not be delivered.
func (m *Metrics) NotifyFailed() { m.notifyFailures.Inc() }

// PingFailed counts one dead-man ping of task that could not be delivered.
func (m *Metrics) PingFailed(task string) { m.pingFailures.WithLabelValues(task).Inc() }

// SetMirror records the outcome of a media mirror run.
func (m *Metrics) SetMirror(copied, skipped, deleted, failed int, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mirrorObjects.WithLabelValues("copied").Set(float64(copied))
	m.mirrorObjects.WithLabelValues("skipped").Set(float64(skipped))
	m.mirrorObjects.WithLabelValues("deleted").Set(float64(deleted))
	m.mirrorObjects.WithLabelValues("failed").Set(float64(failed))
	m.mirrorBytes.WithLabelValues().Set(float64(bytes))
}

// SetMirrorThrottles records the 429 and 503 answers of a media mirror
// run's source and store.
func (m *Metrics) SetMirrorThrottles(source, store int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mirrorThrottle.WithLabelValues("source").Set(float64(source))
	m.mirrorThrottle.WithLabelValues("store").Set(float64(store))
}

// Handler serves the registry in the Prometheus exposition formats. A
// collector that fails does not hide the others.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// WriteTextfile writes the mbackup_* series to path in the text format, for
// node_exporter's textfile collector (give it a name ending in .prom in the
// collector's directory). The file is replaced atomically: the series are
// written to a hidden temporary file in the same directory (which the
// collector ignores), synced, and renamed over path; on any error path is
// left as it was and the temporary file is removed. The go_* and process_*
// series are left out, as node_exporter exports its own and would reject
// the duplicates.
func (m *Metrics) WriteTextfile(path string) error {
	return writeTextfile(path, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := m.reg.Gather()
		return slices.DeleteFunc(mfs, func(mf *dto.MetricFamily) bool {
			return !strings.HasPrefix(mf.GetName(), namePrefix)
		}), err
	}))
}

func writeTextfile(path string, g prometheus.Gatherer) (err error) {
	mfs, err := g.Gather()
	if err != nil {
		return fmt.Errorf("metrics: gather: %w", err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, fmt.Sprintf(textfileTempPattern, base))
	if err != nil {
		return fmt.Errorf("metrics: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("metrics: write %s: %w", path, err)
		}
	}()
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(tmp, mf); err != nil {
			return err
		}
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable; a failure here leaves a complete file.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// newestGood exports the time and the age of the newest complete snapshot;
// the age is computed at scrape time. Nothing is exported until set is
// called once.
type newestGood struct {
	now      func() time.Time
	timeDesc *prometheus.Desc
	ageDesc  *prometheus.Desc
	mu       sync.Mutex
	known    bool
	t        time.Time
}

func newNewestGood(now func() time.Time) *newestGood {
	return &newestGood{
		now: now,
		timeDesc: prometheus.NewDesc(NewestGoodSnapshotTime,
			"Time of the newest complete snapshot in the store, in Unix seconds; 0 when there is none.", nil, nil),
		ageDesc: prometheus.NewDesc(NewestGoodSnapshotAge,
			"Seconds since the newest complete snapshot in the store was taken; absent when there is none.", nil, nil),
	}
}

func (n *newestGood) set(t time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.known, n.t = true, t
}

func (n *newestGood) Describe(ch chan<- *prometheus.Desc) {
	ch <- n.timeDesc
	ch <- n.ageDesc
}

func (n *newestGood) Collect(ch chan<- prometheus.Metric) {
	n.mu.Lock()
	known, t := n.known, n.t
	n.mu.Unlock()
	if !known {
		return
	}
	if t.IsZero() {
		ch <- prometheus.MustNewConstMetric(n.timeDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(n.timeDesc, prometheus.GaugeValue, unixSeconds(t))
	ch <- prometheus.MustNewConstMetric(n.ageDesc, prometheus.GaugeValue, math.Max(0, n.now().Sub(t).Seconds()))
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
