package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"mbackup/internal/retention"
	"mbackup/internal/storage"
	"mbackup/internal/task"
)

func runPrune(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("prune")
	dryRun := fs.Bool("dry-run", false, "print what would be deleted, delete nothing")
	asJSON := fs.Bool("json", false, "print every decision and what was (or would be) deleted as one JSON document on standard output; "+
		"the lines go to standard error (see the README's \"JSON output\")")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("prune: unexpected argument %q", fs.Arg(0))
	}
	out := e.stdout
	if *asJSON {
		out = e.stderr // standard output holds the JSON alone
	}
	policy, rep, err := prune(ctx, e, *dryRun, out)
	if err == nil || rep.Decisions != nil {
		fmt.Fprintln(out, pruneSummary(rep, *dryRun))
	}
	if *asJSON {
		return errors.Join(err, printJSON(e.stdout, pruneDoc(ctx, rep, policy, *dryRun, err)))
	}
	return err
}

// prune applies the configured retention, logging each deletion to out.
// It returns the policy, nil when the configuration does not load.
func prune(ctx context.Context, e *env, dryRun bool, out io.Writer) (*retention.Policy, retention.PruneReport, error) {
	var rep retention.PruneReport
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, rep, err
	}
	p := task.Policy(cfg.Retention)
	if dryRun {
		fmt.Fprintf(out, "retention: %s\n", cfg.Retention.Describe())
	}
	l, err := lockStore(cfg.Storage, "mbackup prune")
	if err != nil {
		return &p, rep, err
	}
	defer l.Release()
	if !dryRun {
		// A restore or verify in progress reads snapshots prune may delete:
		// wait for them (until SIGINT/SIGTERM), saying who they are.
		rl, err := pruneLockStore(ctx, e, cfg.Storage, "mbackup prune")
		if err != nil {
			return &p, rep, err
		}
		defer rl.Release()
	}
	err = withStore(ctx, cfg.Storage, func(s storage.Store) error {
		var err error
		rep, err = retention.Prune(ctx, retention.PruneOptions{Store: s, Policy: p, Now: time.Now(), DryRun: dryRun, Log: out})
		return err
	})
	return &p, rep, err
}

// pruneJSON is what "mbackup prune --json" prints.
type pruneJSON struct {
	DryRun bool `json:"dry_run"`
	// Policy is the retention policy as understood; null when the
	// configuration did not load.
	Policy *policyJSON `json:"policy"`
	// Snapshots are the committed snapshots, newest first, each with its
	// fate and why; empty when the run stopped before planning.
	Snapshots []pruneDecisionJSON `json:"snapshots"`
	// Deleted and InterruptedRuns are the ids deleted (with dry_run: that
	// would be) of snapshots and of runs that committed no manifest.
	Deleted         []string `json:"deleted"`
	InterruptedRuns []string `json:"interrupted_runs"`
	// LeftAlone are the ids whose manifest does not load: never deleted.
	LeftAlone []string `json:"left_alone"`
	// ShrinkHolds are the flagged snapshots whose shrink holds older ones
	// until mbackup accept-shrink.
	ShrinkHolds []string `json:"shrink_holds"`
	// Locked are the snapshots (snapshot true: still listed, whole) and
	// leftovers that object lock kept; a later prune deletes them.
	Locked []pruneLockedJSON `json:"locked"`
	// Hidden is true when the store hides instead of deleting (a B2 key
	// without deleteFiles): the bucket's lifecycle rule deletes later.
	Hidden            bool   `json:"hidden"`
	UnfinishedUploads int    `json:"unfinished_uploads_cancelled"`
	Objects           int    `json:"objects"` // keys deleted (with dry_run: that would be)
	Bytes             int64  `json:"bytes"`   // stored bytes of what was deleted in full
	Kept              int    `json:"kept"`
	Error             string `json:"error"`
}

// pruneLockedJSON is what object lock kept of one snapshot.
type pruneLockedJSON struct {
	ID       string    `json:"id"`
	Until    time.Time `json:"until"`
	Snapshot bool      `json:"snapshot"`
}

// policyJSON is a retention policy: keep_within in seconds.
type policyJSON struct {
	KeepWithinSeconds float64 `json:"keep_within_seconds"`
	KeepLast          int     `json:"keep_last"`
	KeepDaily         int     `json:"keep_daily"`
	KeepWeekly        int     `json:"keep_weekly"`
	KeepMonthly       int     `json:"keep_monthly"`
}

// pruneDecisionJSON is the fate of one snapshot.
type pruneDecisionJSON struct {
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	Status string    `json:"status"`
	Keep   bool      `json:"keep"`
	Reason string    `json:"reason"`
	// HeldBy are the flagged snapshots whose shrink keeps this one.
	HeldBy []string `json:"held_by"`
}

// pruneDoc describes a prune run that ended with rep and err.
func pruneDoc(ctx context.Context, rep retention.PruneReport, p *retention.Policy, dryRun bool, err error) pruneJSON {
	d := pruneJSON{DryRun: dryRun, Snapshots: []pruneDecisionJSON{}, Deleted: orEmpty(rep.Deleted), InterruptedRuns: orEmpty(rep.Garbage),
		LeftAlone: orEmpty(rep.Unreadable), ShrinkHolds: orEmpty(rep.Shrunk), UnfinishedUploads: rep.Unfinished,
		Objects: rep.Objects, Bytes: rep.Bytes, Kept: rep.Kept(), Error: errText(ctx, err),
		Locked: []pruneLockedJSON{}, Hidden: rep.Hidden}
	for _, l := range rep.Locked {
		d.Locked = append(d.Locked, pruneLockedJSON{ID: l.ID, Until: utc(l.Until), Snapshot: l.Snapshot})
	}
	if p != nil {
		d.Policy = &policyJSON{KeepWithinSeconds: p.KeepWithin.Seconds(), KeepLast: p.KeepLast,
			KeepDaily: p.KeepDaily, KeepWeekly: p.KeepWeekly, KeepMonthly: p.KeepMonthly}
	}
	for _, x := range rep.Decisions {
		d.Snapshots = append(d.Snapshots, pruneDecisionJSON{ID: x.ID, Time: utc(x.Time), Status: x.Status, Keep: x.Keep,
			Reason: x.Reason, HeldBy: orEmpty(x.HeldBy)})
	}
	return d
}

// pruneSummary is the last line of prune: "pruned 3 snapshots and 2
// interrupted runs (1.2 GiB), cancelled 1 unfinished upload; kept 5".
func pruneSummary(rep retention.PruneReport, dryRun bool) string {
	verb := "pruned"
	if dryRun {
		verb = "would prune"
	}
	size := humanBytes(rep.Bytes)
	if rep.Hidden && !dryRun && len(rep.Deleted)+len(rep.Garbage) > 0 {
		size += "; hidden, B2's lifecycle rule deletes them after the lock ends"
	}
	s := fmt.Sprintf("%s %s and %s (%s)", verb, pruneCount(len(rep.Deleted), "snapshot"),
		pruneCount(len(rep.Garbage), "interrupted run"), size)
	if rep.Unfinished > 0 {
		s += fmt.Sprintf(", cancelled %s", pruneCount(rep.Unfinished, "unfinished upload"))
	}
	s += fmt.Sprintf("; kept %d", rep.Kept())
	if l := pruneLocked(rep.Locked); l != "" {
		s += "; 🔒 " + l
	}
	for _, id := range rep.Shrunk {
		s += fmt.Sprintf("; ⚠️ holding the snapshot before the shrink of %s until mbackup accept-shrink %s", id, id)
	}
	return s
}

// pruneLocked says what object lock kept: "2 snapshots locked until
// 2026-12-17 09:00 UTC (a later prune deletes them)", the latest date.
func pruneLocked(ls []retention.Locked) string {
	if len(ls) == 0 {
		return ""
	}
	snaps, until := 0, time.Time{}
	for _, l := range ls {
		if l.Snapshot {
			snaps++
		}
		if l.Until.After(until) {
			until = l.Until
		}
	}
	var what []string
	if snaps > 0 {
		what = append(what, pruneCount(snaps, "snapshot"))
	}
	if n := len(ls) - snaps; n > 0 {
		what = append(what, "the leftovers of "+pruneCount(n, "run"))
	}
	if until.IsZero() { // the key may not read retentions
		return strings.Join(what, " and ") + " locked (a later prune deletes them)"
	}
	return fmt.Sprintf("%s locked until %s at the latest (a later prune deletes them)",
		strings.Join(what, " and "), until.UTC().Format("2006-01-02 15:04 UTC"))
}

// pruneCount writes n and what, plural unless n is 1.
func pruneCount(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
