package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"mbackup/internal/snapshot"
	"mbackup/internal/status"
	"mbackup/internal/storage"
)

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
	var rep *status.Report
	err = withExisting(ctx, cfg.Storage, func(s storage.Store) error {
		rep, err = status.Gather(ctx, cfg, s, lockPlace, time.Now())
		return err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printStatus(e.stdout, rep)
	return nil
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
