package main

import (
	"context"
	"fmt"
	"time"

	"mbackup/internal/retention"
	"mbackup/internal/storage"
	"mbackup/internal/task"
)

func runPrune(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("prune")
	dryRun := fs.Bool("dry-run", false, "print what would be deleted, delete nothing")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("prune: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	l, err := lockStore(cfg.Storage, "mbackup prune")
	if err != nil {
		return err
	}
	defer l.Release()
	if !*dryRun {
		// A restore or verify in progress reads snapshots prune may delete:
		// wait for them (until SIGINT/SIGTERM), saying who they are.
		rl, err := pruneLockStore(ctx, e, cfg.Storage, "mbackup prune")
		if err != nil {
			return err
		}
		defer rl.Release()
	}
	if *dryRun {
		fmt.Fprintf(e.stdout, "retention: %s\n", cfg.Retention.Describe())
	}
	return withStore(ctx, cfg.Storage, func(s storage.Store) error {
		rep, err := retention.Prune(ctx, retention.PruneOptions{
			Store: s, Policy: task.Policy(cfg.Retention), Now: time.Now(), DryRun: *dryRun, Log: e.stdout,
		})
		if err == nil || rep.Decisions != nil {
			fmt.Fprintln(e.stdout, pruneSummary(rep, *dryRun))
		}
		return err
	})
}

// pruneSummary is the last line of prune: "pruned 3 snapshots and 2
// interrupted runs (1.2 GiB), cancelled 1 unfinished upload; kept 5".
func pruneSummary(rep retention.PruneReport, dryRun bool) string {
	verb := "pruned"
	if dryRun {
		verb = "would prune"
	}
	s := fmt.Sprintf("%s %s and %s (%s)", verb, pruneCount(len(rep.Deleted), "snapshot"),
		pruneCount(len(rep.Garbage), "interrupted run"), humanBytes(rep.Bytes))
	if rep.Unfinished > 0 {
		s += fmt.Sprintf(", cancelled %s", pruneCount(rep.Unfinished, "unfinished upload"))
	}
	s += fmt.Sprintf("; kept %d", rep.Kept())
	for _, id := range rep.Shrunk {
		s += fmt.Sprintf("; ⚠️ holding the snapshot before the shrink of %s until mbackup accept-shrink %s", id, id)
	}
	return s
}

// pruneCount writes n and what, plural unless n is 1.
func pruneCount(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
