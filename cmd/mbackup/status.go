package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/lock"
	"mbackup/internal/scheduler"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// statusReport is what "mbackup status --json" prints.
type statusReport struct {
	Snapshots  map[string]int `json:"snapshots"` // by status
	NewestGood *snapshotRef   `json:"newest_good,omitempty"`
	Newest     *snapshotRef   `json:"newest,omitempty"` // not dated in the future
	// Attention names the snapshots that are unreadable, of a newer
	// format or dated in the future, with why and what to do.
	Attention []attention    `json:"attention,omitempty"`
	Schedules []scheduleInfo `json:"schedules"`
	RunHolder string         `json:"run_in_progress,omitempty"` // who holds the store's lock
	Daemon    *daemonInfo    `json:"daemon,omitempty"`
}

type snapshotRef struct {
	ID         string  `json:"id"`
	Status     string  `json:"status"`
	Time       string  `json:"time"`
	AgeSeconds float64 `json:"age_seconds"`
}

// attention is a snapshot status names: one never taken as the newest.
type attention struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

type scheduleInfo struct {
	Job  string `json:"job"`
	Cron string `json:"cron"`
	Next string `json:"next"`
}

// daemonInfo is what the daemon's /metrics says about its last runs.
type daemonInfo struct {
	URL       string    `json:"url"`
	Reachable bool      `json:"reachable"`
	Runs      []lastRun `json:"last_runs,omitempty"`
}

type lastRun struct {
	Job      string  `json:"job"`
	Result   string  `json:"result"`
	Time     string  `json:"time"`
	Duration float64 `json:"duration_seconds"`
}

func runStatus(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("status")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("status: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	var rep statusReport
	err = withStore(ctx, cfg.Storage, func(s storage.Store) error { return rep.fromStore(ctx, s) })
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for _, js := range [][2]string{{"backup", cfg.Schedule.Backup}, {"verify", cfg.Schedule.Verify}} {
		if sched, err := scheduler.Parse(js[1]); js[1] != "" && err == nil {
			rep.Schedules = append(rep.Schedules, scheduleInfo{Job: js[0], Cron: js[1], Next: sched.Next(now).Format(time.RFC3339)})
		}
	}
	rep.RunHolder = runHolder(cfg.Storage)
	if addr := cfg.Metrics.Listen; addr != "" {
		rep.Daemon = scrapeDaemon(ctx, "http://"+addr+"/metrics")
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.print(e.stdout)
	return nil
}

func (r *statusReport) fromStore(ctx context.Context, s storage.Store) error {
	entries, err := snapshot.List(ctx, s)
	if err != nil {
		return err
	}
	r.Snapshots = map[string]int{snapshot.StatusComplete: 0, snapshot.StatusPartial: 0, snapshot.StatusIncomplete: 0,
		snapshot.StatusUnreadable: 0, snapshot.StatusNewerFormat: 0}
	now := time.Now()
	for _, en := range entries {
		r.Snapshots[en.Status]++
		switch {
		case en.Reason != "":
			r.Attention = append(r.Attention, attention{en.ID, en.Status, en.Reason + "; " + en.Hint()})
		case en.Future:
			r.Attention = append(r.Attention, attention{en.ID, en.Status, fmt.Sprintf("dated in the future (%s, the clock says %s): "+
				"a wrong clock or a forged manifest; never taken as the newest snapshot, nor counted by retention",
				en.Date().UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))})
		case en.Manifest != nil && r.Newest == nil:
			r.Newest = refOf(en, now)
		}
	}
	if g, ok := snapshot.NewestGood(entries, now); ok {
		r.NewestGood = refOf(g, now)
	}
	return nil
}

// refOf describes a committed entry; its age is never negative.
func refOf(en snapshot.Entry, now time.Time) *snapshotRef {
	return &snapshotRef{ID: en.ID, Status: en.Status, Time: en.Manifest.Started.UTC().Format(time.RFC3339),
		AgeSeconds: max(now.Sub(en.Manifest.Started).Seconds(), 0)}
}

func (r *statusReport) print(w io.Writer) {
	fmt.Fprintf(w, "snapshots: %d complete, %d partial, %d incomplete (interrupted runs)",
		r.Snapshots[snapshot.StatusComplete], r.Snapshots[snapshot.StatusPartial], r.Snapshots[snapshot.StatusIncomplete])
	for _, st := range []string{snapshot.StatusUnreadable, snapshot.StatusNewerFormat} {
		if n := r.Snapshots[st]; n > 0 {
			fmt.Fprintf(w, ", %d %s", n, st)
		}
	}
	fmt.Fprintln(w)
	for _, a := range r.Attention {
		fmt.Fprintf(w, "snapshot %s (%s): %s\n", a.ID, a.Status, a.Reason)
	}
	if g := r.NewestGood; g != nil {
		fmt.Fprintf(w, "newest good snapshot: %s, %s ago\n", g.ID, roundDuration(time.Duration(g.AgeSeconds)*time.Second))
	} else {
		fmt.Fprintln(w, "newest good snapshot: NONE")
	}
	if n := r.Newest; n != nil && n.Status != snapshot.StatusComplete {
		fmt.Fprintf(w, "newest snapshot: %s, %s, %s ago\n", n.ID, n.Status, roundDuration(time.Duration(n.AgeSeconds)*time.Second))
	}
	for _, s := range r.Schedules {
		fmt.Fprintf(w, "%s: %q, next %s\n", s.Job, s.Cron, s.Next)
	}
	if r.RunHolder != "" {
		fmt.Fprintf(w, "a run is in progress: %s\n", r.RunHolder)
	}
	if d := r.Daemon; d != nil && !d.Reachable {
		fmt.Fprintf(w, "daemon: not reachable at %s (not running, or metrics.listen differs)\n", d.URL)
	} else if d != nil {
		fmt.Fprintf(w, "daemon: running (%s)\n", d.URL)
		for _, run := range d.Runs {
			fmt.Fprintf(w, "  last %s: %s at %s, took %s\n", run.Job, run.Result, run.Time, roundDuration(time.Duration(run.Duration*float64(time.Second))))
		}
	}
}

var (
	lastRunRE  = regexp.MustCompile(`^mbackup_last_run_timestamp_seconds\{result="(\w+)",task="(\w+)"\} (\S+)$`)
	durationRE = regexp.MustCompile(`^mbackup_run_duration_seconds\{task="(\w+)"\} (\S+)$`)
)

// scrapeDaemon reads the last runs from the daemon's /metrics.
func scrapeDaemon(ctx context.Context, url string) *daemonInfo {
	d := &daemonInfo{URL: url}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return d
	}
	defer resp.Body.Close()
	d.Reachable = resp.StatusCode == http.StatusOK
	durations := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if m := lastRunRE.FindStringSubmatch(sc.Text()); m != nil {
			ts, _ := strconv.ParseFloat(m[3], 64)
			d.Runs = append(d.Runs, lastRun{Job: m[2], Result: m[1], Time: time.Unix(int64(ts), 0).UTC().Format(time.RFC3339)})
		} else if m := durationRE.FindStringSubmatch(sc.Text()); m != nil {
			durations[m[1]], _ = strconv.ParseFloat(m[2], 64)
		}
	}
	for i := range d.Runs {
		d.Runs[i].Duration = durations[d.Runs[i].Job]
	}
	return d
}

// runHolder says who holds the store's writers' lock, "" when nobody does.
// It looks without locking (status never makes a backup fail); a lock
// that cannot be looked at (the backup would say why) says nothing.
func runHolder(c config.Storage) string {
	p, err := lockPlace(c)
	if err != nil {
		return ""
	}
	h, _ := lock.Holder(p)
	return h
}
