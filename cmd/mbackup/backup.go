package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/human"
	"mbackup/internal/shrink"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/task"
)

func runBackup(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("backup")
	only := fs.String("only", "", "take only these `components`, comma-separated: "+strings.Join(components, ","))
	notifyRun := fs.Bool("notify", true, "post the outcome to Slack when notify.slack is configured")
	textfile := fs.String("metrics-textfile", "", "write the run's metrics to `FILE` for node_exporter's textfile collector (e.g. /var/lib/prometheus/node-exporter/mbackup.prom)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("backup: unexpected argument %q", fs.Arg(0))
	}
	var onlyList []string
	if *only != "" {
		for _, c := range strings.Split(*only, ",") {
			if !slices.Contains(components, c) {
				return usagef("backup: --only: unknown component %q (known: %s)", c, strings.Join(components, ", "))
			}
			onlyList = append(onlyList, c)
		}
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	l, err := lockStore(cfg.Storage, "mbackup backup")
	if err != nil {
		return err
	}
	defer l.Release()
	started := time.Now()
	return withStore(ctx, cfg.Storage, func(s storage.Store) error {
		m, err := takeSnapshot(ctx, e, cfg, s, onlyList)
		if m != nil {
			printSummary(e, m)
		}
		rerr := reportRun(ctx, e, cfg, s, task.Outcome{Task: task.Backup, Started: started, Manifest: m, Err: err}, *notifyRun, *textfile)
		return errors.Join(err, rerr)
	})
}

// reportRun reports a run of a one-shot command (task.Report): to Slack
// when configured and notify is set, and to a node_exporter textfile when
// textfile is set. A failed notification is logged, never returned.
func reportRun(ctx context.Context, e *env, cfg *config.Config, s storage.Store, r task.Outcome, notify bool, textfile string) error {
	if err := task.Report(ctx, e.logger(), cfg, s, r, notify, textfile); err != nil {
		return fmt.Errorf("--metrics-textfile: %w", err)
	}
	return nil
}

// printSummary prints one line per artifact and failure.
func printSummary(e *env, m *snapshot.Manifest) {
	fmt.Fprintf(e.stdout, "snapshot %s: %s, %s stored in %s\n", m.ID, m.Status,
		humanBytes(m.Bytes()), roundDuration(m.Finished.Sub(m.Started)))
	for _, a := range m.Artifacts {
		fmt.Fprintf(e.stdout, "  %-8s %-28s %10s -> %10s  %s\n", a.Component, a.Name,
			humanBytes(a.PlainBytes), humanBytes(a.StoredBytes), roundDuration(a.Finished.Sub(a.Started)))
	}
	for _, f := range m.Failed {
		fmt.Fprintf(e.stdout, "  %-8s %-28s FAILED: %s\n", f.Component, f.Name, f.Reason)
	}
	for _, w := range shrink.Warnings(m) {
		fmt.Fprintf(e.stdout, "  ⚠️ %s\n", w)
	}
}

// partialError marks a committed snapshot with failed components: exit 3.
type partialError struct{ err error }

func (p *partialError) Error() string { return p.err.Error() }
func (p *partialError) Unwrap() error { return p.err }

func wrapPartial(err error) error {
	if errors.Is(err, snapshot.ErrPartial) {
		return &partialError{err}
	}
	return err
}

// humanBytes formats a byte count for the commands' output.
func humanBytes(n int64) string { return human.Bytes(n) }

// roundDuration keeps two or three significant digits.
func roundDuration(d time.Duration) time.Duration { return human.Duration(d) }
