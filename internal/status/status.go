// Package status gathers what "mbackup status" reports: the snapshots in
// the store by status, the newest good one and its age, the last restore
// drill recorded in the store, the next runs of the schedules, who holds the store's lock, and the last runs the
// daemon's /metrics tell of.
//
// Invariant: gathering a report takes no lock. It lists the store, looks
// at the writers' lock without taking it (lock.Holder opens the lock file
// if there is one and reads /proc/locks) and scrapes /metrics: a run that
// starts meanwhile is never kept out by it.
package status

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"mbackup/internal/config"
	"mbackup/internal/drill"
	"mbackup/internal/lock"
	"mbackup/internal/metrics"
	"mbackup/internal/scheduler"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/task"
)

// Report is what "mbackup status --json" prints.
type Report struct {
	Snapshots  map[string]int `json:"snapshots"` // by status
	NewestGood *SnapshotRef   `json:"newest_good,omitempty"`
	Newest     *SnapshotRef   `json:"newest,omitempty"` // not dated in the future
	// Attention names the snapshots that are unreadable, of a newer
	// format or dated in the future, with why and what to do.
	Attention []Attention `json:"attention,omitempty"`
	Schedules []Schedule  `json:"schedules"`
	RunHolder string      `json:"run_in_progress,omitempty"` // who holds the store's lock
	Daemon    *Daemon     `json:"daemon,omitempty"`
	// LastDrill and LastGoodDrill are the newest drill record in the
	// store and the newest successful one (absent when there is none).
	LastDrill     *DrillRef `json:"last_drill,omitempty"`
	LastGoodDrill *DrillRef `json:"last_good_drill,omitempty"`
	// DrillLine says how the last drill went, in one line.
	DrillLine string `json:"-"`
	// Versions is what one listing of every stored version shows, on a
	// store that keeps versions (b2); absent on any other.
	Versions *Versions `json:"versions,omitempty"`
}

// Versions names the snapshots that exist only as hidden versions or whose
// manifest has several uploaded versions: how hiding or overwriting
// snapshots with the host's key is reported.
type Versions struct {
	// Hidden are the snapshots whose manifest is hidden though younger
	// than retention.keep_within (older ones may be a prune's doing: a
	// key without deleteFiles hides).
	Hidden []string `json:"hidden"`
	// Overwritten are the snapshots whose manifest has several uploaded
	// versions (mbackup writes it once).
	Overwritten []string `json:"overwritten"`
	// Line says so with the command that shows them; "" when nothing is.
	Line string `json:"-"`
}

// DrillRef is a drill record of the store.
type DrillRef struct {
	Snapshot   string  `json:"snapshot"`
	Host       string  `json:"host"`
	OK         bool    `json:"ok"`
	Time       string  `json:"time"` // when it ended
	AgeSeconds float64 `json:"age_seconds"`
	RTOSeconds float64 `json:"rto_seconds"`
	Error      string  `json:"error,omitempty"`
}

func drillRef(r *drill.Record, now time.Time) *DrillRef {
	if r == nil {
		return nil
	}
	return &DrillRef{Snapshot: r.Snapshot, Host: r.Host, OK: r.OK, Time: r.Finished.UTC().Format(time.RFC3339),
		AgeSeconds: max(now.Sub(r.Finished).Seconds(), 0), RTOSeconds: r.Duration().Seconds(), Error: r.Error}
}

// SnapshotRef is a committed snapshot; its age is never negative.
type SnapshotRef struct {
	ID         string  `json:"id"`
	Status     string  `json:"status"`
	Time       string  `json:"time"`
	AgeSeconds float64 `json:"age_seconds"`
}

// Attention is a snapshot status names: one never taken as the newest.
type Attention struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// Schedule is a configured schedule and its next run.
type Schedule struct {
	Job  string `json:"job"`
	Cron string `json:"cron"`
	Next string `json:"next"`
}

// Daemon is what the daemon's /metrics says about its last runs.
type Daemon struct {
	URL       string    `json:"url"`
	Reachable bool      `json:"reachable"`
	Runs      []LastRun `json:"last_runs,omitempty"`
}

// LastRun is the last run of a task the daemon ran.
type LastRun struct {
	Job      string  `json:"job"`
	Result   string  `json:"result"`
	Time     string  `json:"time"`
	Duration float64 `json:"duration_seconds"`
}

// Gather reports on cfg's store s at now. locks says where the store's
// locks are; a place that cannot be found says nothing of a run.
func Gather(ctx context.Context, cfg *config.Config, s storage.Store, locks func(config.Storage) (lock.Place, error), now time.Time) (*Report, error) {
	r := &Report{}
	if err := r.fromStore(ctx, s, now); err != nil {
		return nil, err
	}
	if v, ok := s.(storage.Versioned); ok {
		var err error
		if r.Versions, err = versions(ctx, v, cfg.Retention.KeepWithin.Std(), now); err != nil {
			return nil, err
		}
	}
	now = now.UTC()
	scheds := [][2]string{{task.Backup, cfg.Schedule.Backup}, {task.Verify, cfg.Schedule.Verify}}
	if cfg.Verifier() {
		scheds = scheds[1:]
	}
	if cfg.Drill != nil {
		scheds = append(scheds, [2]string{task.Drill, cfg.Drill.Schedule})
	}
	for _, js := range scheds {
		if sched, err := scheduler.Parse(js[1]); js[1] != "" && err == nil {
			r.Schedules = append(r.Schedules, Schedule{Job: js[0], Cron: js[1], Next: sched.Next(now).Format(time.RFC3339)})
		}
	}
	if p, err := locks(cfg.Storage); err == nil {
		r.RunHolder = Holder(p)
	}
	if addr := cfg.Metrics.Listen; addr != "" {
		r.Daemon = Scrape(ctx, "http://"+addr+"/metrics")
	}
	return r, nil
}

func (r *Report) fromStore(ctx context.Context, s storage.Store, now time.Time) error {
	entries, err := snapshot.List(ctx, s)
	if err != nil {
		return err
	}
	r.Snapshots = map[string]int{snapshot.StatusComplete: 0, snapshot.StatusPartial: 0, snapshot.StatusIncomplete: 0,
		snapshot.StatusUnreadable: 0, snapshot.StatusNewerFormat: 0}
	for _, en := range entries {
		r.Snapshots[en.Status]++
		switch {
		case en.Reason != "":
			r.Attention = append(r.Attention, Attention{en.ID, en.Status, en.Reason + "; " + en.Hint()})
		case en.Future:
			r.Attention = append(r.Attention, Attention{en.ID, en.Status, fmt.Sprintf("dated in the future (%s, the clock says %s): "+
				"a wrong clock or a forged manifest; never taken as the newest snapshot, nor counted by retention",
				en.Date().UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))})
		case en.Manifest != nil && r.Newest == nil:
			r.Newest = refOf(en, now)
		}
	}
	if g, ok := snapshot.NewestGood(entries, now); ok {
		r.NewestGood = refOf(g, now)
	}
	// The drill records are a report beside the snapshots: one that
	// cannot be read leaves the drill out, never the status.
	f, err := drill.Latest(ctx, s)
	if err != nil {
		return nil
	}
	r.LastDrill, r.LastGoodDrill, r.DrillLine = drillRef(f.Last, now), drillRef(f.LastOK, now), f.Line(now)
	return nil
}

// versions surveys every version under snapshots/, one listing.
func versions(ctx context.Context, v storage.Versioned, keepWithin time.Duration, now time.Time) (*Versions, error) {
	sv, err := snapshot.SurveyVersions(ctx, v)
	if err != nil {
		return nil, err
	}
	r := &Versions{Hidden: []string{}, Overwritten: orEmpty(sv.Overwritten)}
	for _, id := range sv.Hidden {
		if now.Sub(sv.Dates[id]) < keepWithin {
			r.Hidden = append(r.Hidden, id)
		}
	}
	var what []string
	if n := len(r.Hidden); n > 0 {
		what = append(what, fmt.Sprintf("%d %s only as hidden versions, younger than retention.keep_within "+
			"(someone with this host's key hid %s)", n, plural(n, "snapshot exists", "snapshots exist"), plural(n, "it", "them")))
	}
	if n := len(r.Overwritten); n > 0 {
		what = append(what, fmt.Sprintf("%d %s several uploaded versions (mbackup writes each once: overwritten)",
			n, plural(n, "snapshot's manifest has", "snapshots' manifests have")))
	}
	if len(what) > 0 {
		r.Line = "⚠️  " + strings.Join(what, "; ") + ": mbackup list --all-versions shows them and the version to restore"
	}
	return r, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// refOf describes a committed entry; its age is never negative.
func refOf(en snapshot.Entry, now time.Time) *SnapshotRef {
	return &SnapshotRef{ID: en.ID, Status: en.Status, Time: en.Manifest.Started.UTC().Format(time.RFC3339),
		AgeSeconds: max(now.Sub(en.Manifest.Started).Seconds(), 0)}
}

// Holder says who holds the writers' lock of p, "" when nobody does. It
// looks without locking (status never makes a backup fail); a lock that
// cannot be looked at (the backup would say why) says nothing.
func Holder(p lock.Place) string {
	h, _ := lock.Holder(p)
	return h
}

// Scrape reads the last runs from the daemon's /metrics at url: one per
// task, in the order the daemon exposes them. A daemon that does not
// answer is not reachable; an answer that does not parse tells no runs.
func Scrape(ctx context.Context, url string) *Daemon {
	d := &Daemon{URL: url}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return d
	}
	defer resp.Body.Close()
	d.Reachable = resp.StatusCode == http.StatusOK
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return d
	}
	durations := map[string]float64{}
	for _, m := range mfs[metrics.RunDuration].GetMetric() {
		durations[label(m, metrics.TaskLabel)] = m.GetGauge().GetValue()
	}
	for _, m := range mfs[metrics.LastRunTimestamp].GetMetric() {
		job := label(m, metrics.TaskLabel)
		d.Runs = append(d.Runs, LastRun{Job: job, Result: label(m, metrics.ResultLabel),
			Time: time.Unix(int64(m.GetGauge().GetValue()), 0).UTC().Format(time.RFC3339), Duration: durations[job]})
	}
	return d
}

// label is the value of m's label name, "" when it has none.
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
