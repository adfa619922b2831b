package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/snapshot"
	"mbackup/internal/status"
	"mbackup/internal/storage"
)

func runStatus(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("status")
	asJSON := fs.Bool("json", false, "print JSON (see the README's \"JSON output\")")
	var maxAge config.Duration
	fs.Func("max-age", "exit 1 unless a complete snapshot is younger than `DURATION` (26h, 2d): a probe for cron or Nagios", func(s string) error {
		d, err := config.ParseDuration(s)
		if err == nil && d <= 0 {
			err = fmt.Errorf("want a positive duration, like 26h or 2d")
		}
		maxAge = d
		return err
	})
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("status: unexpected argument %q", fs.Arg(0))
	}
	rep, err := gatherStatus(ctx, e)
	doc := statusJSON{Report: rep}
	if err == nil && maxAge > 0 {
		doc.MaxAge = checkAge(rep, maxAge)
		if !doc.MaxAge.OK {
			err = fmt.Errorf("status: %s", doc.MaxAge.Reason)
		}
	}
	if *asJSON {
		doc.Error = errText(ctx, err)
		return errors.Join(err, printJSON(e.stdout, doc))
	}
	if rep != nil {
		printStatus(e.stdout, rep)
	}
	if doc.MaxAge != nil && doc.MaxAge.OK {
		fmt.Fprintf(e.stdout, "max age: %s\n", doc.MaxAge.Reason)
	}
	return err
}

// gatherStatus reports on the configured store.
func gatherStatus(ctx context.Context, e *env) (*status.Report, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, err
	}
	var rep *status.Report
	err = withExisting(ctx, cfg.Storage, func(s storage.Store) error {
		rep, err = status.Gather(ctx, cfg, s, lockPlace, time.Now())
		return err
	})
	return rep, err
}

// statusJSON is what "mbackup status --json" prints: the report's fields
// (absent when it could not be gathered), then max_age with --max-age,
// then error when the command fails.
type statusJSON struct {
	*status.Report
	MaxAge *maxAgeJSON `json:"max_age,omitempty"`
	Error  string      `json:"error,omitempty"`
}

// maxAgeJSON is the verdict of --max-age: OK when a complete snapshot,
// not dated in the future, is younger than Seconds; Reason says which, or
// why there is none.
type maxAgeJSON struct {
	Seconds float64 `json:"seconds"`
	OK      bool    `json:"ok"`
	Reason  string  `json:"reason"`
}

// checkAge says whether r's newest good snapshot is younger than maxAge.
func checkAge(r *status.Report, maxAge config.Duration) *maxAgeJSON {
	v := &maxAgeJSON{Seconds: maxAge.Std().Seconds()}
	g := r.NewestGood
	if g == nil {
		v.Reason = fmt.Sprintf("no complete snapshot younger than %s: none in the store (mbackup backup takes one)", maxAge)
		return v
	}
	age := roundDuration(time.Duration(g.AgeSeconds * float64(time.Second)))
	if g.AgeSeconds >= v.Seconds {
		v.Reason = fmt.Sprintf("no complete snapshot younger than %s: the newest, %s, is %s old (are the backups running? mbackup status, journalctl -u mbackup)", maxAge, g.ID, age)
		return v
	}
	v.OK, v.Reason = true, fmt.Sprintf("the newest complete snapshot, %s, is %s old, younger than %s", g.ID, age, maxAge)
	return v
}

func printStatus(w io.Writer, r *status.Report) {
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
	if v := r.Versions; v != nil && v.Line != "" {
		fmt.Fprintln(w, v.Line)
	}
	if r.DrillLine != "" {
		fmt.Fprintln(w, r.DrillLine)
	} else {
		fmt.Fprintln(w, "last drill: none recorded in the store (mbackup drill, or a verifier's daemon, proves that the snapshots restore)")
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
