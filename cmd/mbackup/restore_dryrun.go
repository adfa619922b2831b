package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"mbackup/internal/restore"
)

// dryRun runs the restore's checks (restore.Options.DryRun: every
// artifact read and checked, every target asked, nothing written) and
// says whether the restore would start; with --json it prints the plan and
// that result on standard output. The error, when the checks refuse, is
// the restore's own: the command exits 1.
func (r *restorer) dryRun(ctx context.Context, steps []restore.Step) error {
	rep, err := restore.Run(ctx, steps, r.targets, r.options(true))
	r.bar.close()
	if ctx.Err() != nil && err != nil {
		return err // interrupted: no verdict to print
	}
	if r.f.json {
		b, jerr := json.MarshalIndent(r.planJSON(steps, rep, err), "", "  ")
		if jerr != nil {
			return errors.Join(err, jerr)
		}
		fmt.Fprintf(r.e.stdout, "%s\n", b)
	}
	printPreflightNotes(r.out, rep)
	if err != nil {
		fmt.Fprintf(r.out, "\ndry run: the restore would be refused (below); nothing was written\n")
		return suggestAs(err)
	}
	fmt.Fprintf(r.out, "\ndry run: every artifact and target checked in %s; the restore would start. Nothing was written.\n",
		roundDuration(rep.Preflight))
	return nil
}

// dryRunJSON is what restore --dry-run --json prints.
type dryRunJSON struct {
	Snapshot  string        `json:"snapshot"`
	Host      string        `json:"host"`
	Status    string        `json:"status"`
	Taken     time.Time     `json:"taken"`
	Clean     bool          `json:"clean"`
	Staging   string        `json:"staging"`
	Steps     []stepJSON    `json:"steps"`
	Preflight preflightJSON `json:"preflight"`
}

// stepJSON is one step of the plan, in the order it would run.
type stepJSON struct {
	Name        string `json:"name"` // component/name, as --only spells it
	Component   string `json:"component"`
	Artifact    string `json:"artifact"`
	Key         string `json:"key"`
	Database    string `json:"database,omitempty"` // the name restored as (--as changes it)
	Does        string `json:"does"`
	PlainBytes  int64  `json:"plain_bytes"`
	StoredBytes int64  `json:"stored_bytes"`
}

// preflightJSON is the result of the checks: OK when the restore would
// start, else every problem found.
type preflightJSON struct {
	OK       bool     `json:"ok"`
	Seconds  float64  `json:"seconds"`
	Problems []string `json:"problems"`
	Notes    []string `json:"notes"` // what does not stop the restore
}

func (r *restorer) planJSON(steps []restore.Step, rep restore.Report, err error) dryRunJSON {
	out := dryRunJSON{Snapshot: r.m.ID, Host: r.m.Host, Status: r.m.Status, Taken: utc(r.m.Started),
		Clean: r.f.clean, Staging: r.f.staging, Steps: []stepJSON{},
		Preflight: preflightJSON{OK: err == nil, Seconds: rep.Preflight.Seconds(), Problems: problems(err), Notes: append([]string{}, rep.Notes...)}}
	for _, s := range steps {
		out.Steps = append(out.Steps, stepJSON{Name: s.Name(), Component: s.Artifact.Component, Artifact: s.Artifact.Name,
			Key: s.Artifact.Key, Database: s.Database, Does: s.Does, PlainBytes: s.Artifact.PlainBytes, StoredBytes: s.Artifact.StoredBytes})
	}
	return out
}

// problems lists the problems an error of the checks joins (each artifact
// or target refused), or the error itself; empty for nil.
func problems(err error) []string {
	out := []string{}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, p := range j.Unwrap() {
				out = append(out, p.Error())
			}
			return out
		}
	}
	if err != nil {
		out = append(out, strings.TrimSuffix(err.Error(), "\nnothing was restored"))
	}
	return out
}
