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
	asJSON := fs.Bool("json", false, "print the outcome as one JSON document on standard output (see the README's \"JSON output\")")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("backup: unexpected argument %q", fs.Arg(0))
	}
	onlyList, err := onlyComponents(*only)
	if err != nil {
		return err
	}
	started := time.Now()
	m, err := backup(ctx, e, onlyList, *notifyRun, *textfile, started)
	if *asJSON {
		return errors.Join(err, printJSON(e.stdout, backupDoc(ctx, m, err, started, time.Now())))
	}
	if m != nil {
		printSummary(e, m)
	}
	return err
}

// backup takes the snapshot and reports the run; the manifest is nil when
// nothing was committed.
func backup(ctx context.Context, e *env, only []string, notify bool, textfile string, started time.Time) (*snapshot.Manifest, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, err
	}
	l, err := lockStore(cfg.Storage, "mbackup backup")
	if err != nil {
		return nil, err
	}
	defer l.Release()
	var m *snapshot.Manifest
	err = withStore(ctx, cfg.Storage, func(s storage.Store) error {
		var err error
		m, err = takeSnapshot(ctx, e, cfg, s, only)
		rerr := reportRun(ctx, e, cfg, s, task.Outcome{Task: task.Backup, Started: started, Manifest: m, Err: err}, notify, textfile)
		return errors.Join(err, rerr)
	})
	return m, err
}

// onlyComponents parses --only: nil for every component.
func onlyComponents(only string) ([]string, error) {
	var out []string
	if only == "" {
		return nil, nil
	}
	for _, c := range strings.Split(only, ",") {
		if !slices.Contains(components, c) {
			return nil, usagef("backup: --only: unknown component %q (known: %s)", c, strings.Join(components, ", "))
		}
		out = append(out, c)
	}
	return out, nil
}

// backupJSON is what "mbackup backup --json" prints.
type backupJSON struct {
	// Status is the snapshot's, complete or partial, or "failed" (nothing
	// committed) or "interrupted" (SIGTERM or Ctrl-C, nothing committed).
	Status          string               `json:"status"`
	Snapshot        string               `json:"snapshot"` // its id; "" when nothing was committed
	Host            string               `json:"host"`
	Started         time.Time            `json:"started"`
	Finished        time.Time            `json:"finished"`
	DurationSeconds float64              `json:"duration_seconds"`
	PlainBytes      int64                `json:"plain_bytes"`
	StoredBytes     int64                `json:"stored_bytes"`
	Artifacts       []backupArtifactJSON `json:"artifacts"`
	Failed          []snapshot.Failure   `json:"failed"`   // component, name, reason
	Warnings        []string             `json:"warnings"` // the shrink guard's
	Error           string               `json:"error"`    // why the command exits non-zero; "" on success
}

// backupArtifactJSON is one artifact the snapshot stored.
type backupArtifactJSON struct {
	Component       string  `json:"component"`
	Name            string  `json:"name"`
	Key             string  `json:"key"`
	PlainBytes      int64   `json:"plain_bytes"`
	StoredBytes     int64   `json:"stored_bytes"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// backupDoc describes a backup run that started at started and ended at
// finished with manifest m (nil when nothing was committed) and err.
func backupDoc(ctx context.Context, m *snapshot.Manifest, err error, started, finished time.Time) backupJSON {
	d := backupJSON{Status: "failed", Started: utc(started), Finished: utc(finished), DurationSeconds: finished.Sub(started).Seconds(),
		Artifacts: []backupArtifactJSON{}, Failed: []snapshot.Failure{}, Warnings: orEmpty(shrink.Warnings(m)), Error: errText(ctx, err)}
	if d.Error == "interrupted" {
		d.Status = "interrupted"
	}
	if m == nil {
		return d
	}
	d.Status, d.Snapshot, d.Host, d.StoredBytes, d.Failed = m.Status, m.ID, m.Host, m.Bytes(), orEmpty(m.Failed)
	d.Started, d.Finished, d.DurationSeconds = utc(m.Started), utc(m.Finished), m.Finished.Sub(m.Started).Seconds()
	for _, a := range m.Artifacts {
		d.PlainBytes += a.PlainBytes
		d.Artifacts = append(d.Artifacts, backupArtifactJSON{Component: a.Component, Name: a.Name, Key: a.Key,
			PlainBytes: a.PlainBytes, StoredBytes: a.StoredBytes, DurationSeconds: a.Finished.Sub(a.Started).Seconds()})
	}
	return d
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
