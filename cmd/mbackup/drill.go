package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"mbackup/internal/config"
	"mbackup/internal/drill"
	"mbackup/internal/engines"
	"mbackup/internal/human"
	"mbackup/internal/restore"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/task"
)

// drillFlags are drill's options.
type drillFlags struct {
	identities []string
	dir        string
	json       bool
	notify     bool
	textfile   string
	trust      trustFlags
}

// runDrill restores a snapshot into throwaway servers, checks it, prints
// every step and its time, and writes the result into the store as a
// drill record (see internal/drill).
func runDrill(ctx context.Context, e *env, args []string) error {
	var f drillFlags
	fs := e.flagSet("drill")
	fs.Func("i", "age identity `FILE` that decrypts the snapshots (repeatable; default: drill.identity_file)", func(s string) error {
		f.identities = append(f.identities, s)
		return nil
	})
	fs.StringVar(&f.dir, "dir", "", "`directory` for the throwaway servers and the staged artifacts (default: drill.dir, else "+config.DefaultDrillDir+")")
	fs.BoolVar(&f.json, "json", false, "print the drill record as JSON")
	fs.BoolVar(&f.notify, "notify", true, "post the outcome to Slack (and ping notify.ping.drill) when configured")
	fs.StringVar(&f.textfile, "metrics-textfile", "", "write the run's metrics to `FILE` for node_exporter's textfile collector")
	f.trust.register(fs)
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("drill: give at most one snapshot id")
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	d, err := newDriller(cfg, f.identities, f.dir)
	if err != nil {
		return err
	}
	if d.signer, err = f.trust.pinned(cfg); err != nil {
		return err
	}
	store, done, err := e.readConfigured(ctx, cfg, "mbackup drill") // prune waits until done
	if err != nil {
		return err
	}
	defer done()
	if d.signer == nil {
		fmt.Fprintln(e.stderr, "mbackup: warning: signatures not checked (--insecure-skip-signature)")
	}
	d.progress = e.stderr
	started := time.Now()
	m, rec, err := d.run(ctx, cfg, store, first(pos))
	if ctx.Err() == nil && m != nil {
		r := task.Outcome{Task: task.Drill, Started: started, Manifest: m, Err: err, Summary: drillSummary(rec)}
		if rerr := reportRun(ctx, e, cfg, store, r, f.notify, f.textfile); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	switch {
	case rec == nil:
	case f.json:
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rec)
	default:
		printDrill(e.stdout, m, rec)
	}
	return err
}

// driller drills snapshots of one store.
type driller struct {
	ids      []age.Identity
	signer   ssh.PublicKey // nil: signatures not checked
	dir      string
	progress io.Writer // nil: no progress lines
}

// newDriller reads the identities (flags, else drill.identity_file) and
// chooses the working directory (flag, else drill.dir, else the default).
func newDriller(cfg *config.Config, files []string, dir string) (*driller, error) {
	if len(files) == 0 && cfg.Drill != nil && cfg.Drill.IdentityFile != "" {
		files = []string{cfg.Drill.IdentityFile}
	}
	if len(files) == 0 {
		return nil, usagef("drill: needs the age identity that decrypts the snapshots: -i FILE, or drill.identity_file in the configuration")
	}
	d := &driller{dir: dir}
	for _, p := range files {
		more, err := restore.ReadIdentities(p)
		if err != nil {
			return nil, err
		}
		d.ids = append(d.ids, more...)
	}
	if d.dir == "" && cfg.Drill != nil {
		d.dir = cfg.Drill.Dir
	}
	if d.dir == "" {
		d.dir = config.DefaultDrillDir
	}
	return d, nil
}

// run drills snapshot id ("" for the newest complete one) and saves the
// record of the drill in the store. A drill that was interrupted is not
// recorded: it says nothing about the snapshot. The record is returned
// whenever the drill ran, with the first error.
func (d *driller) run(ctx context.Context, cfg *config.Config, s storage.Store, id string) (*snapshot.Manifest, *drill.Record, error) {
	read, m, err := fromVersions(ctx, d.progress, s, id, "", d.signer) // a hidden or overwritten snapshot
	if m == nil && err == nil {
		read = s
		m, err = findSnapshot(ctx, s, id)
		err = versionsHint(s, err)
	}
	if err != nil {
		return nil, nil, err
	}
	started := time.Now()
	var res drill.Result
	am, err := d.authenticate(ctx, read, m)
	if err == nil {
		res, err = drill.Run(ctx, am, drill.Options{Store: read, Identities: d.ids, Dir: d.dir, Progress: d.progress})
	}
	if ctx.Err() != nil {
		return m, nil, errors.Join(ctx.Err(), err)
	}
	rec := record(cfg, m.ID, started, res, err)
	save, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if serr := drill.Save(save, s, rec); serr != nil {
		return m, rec, errors.Join(err, serr)
	}
	if _, terr := drill.Trim(save, s, time.Now(), rec); terr != nil && d.progress != nil {
		fmt.Fprintf(d.progress, "mbackup: warning: old drill records not trimmed: %v\n", terr)
	}
	return m, rec, err
}

// authenticate returns m as read from its signed bytes; m itself when
// signatures are not checked.
func (d *driller) authenticate(ctx context.Context, s storage.Store, m *snapshot.Manifest) (*snapshot.Manifest, error) {
	if d.signer == nil {
		return m, nil
	}
	am, err := snapshot.Authenticate(ctx, s, m.ID, d.signer)
	if err != nil {
		return nil, fmt.Errorf("drill: %s: %w", m.ID, err)
	}
	return am, nil
}

// record is the stored account of a drill of snapshot id that began at
// started: res, or only err when the drill did not start (a manifest whose
// signature does not verify).
func record(cfg *config.Config, id string, started time.Time, res drill.Result, err error) *drill.Record {
	rec := &drill.Record{Host: cfg.Host, Tool: "mbackup " + buildVersion(), Snapshot: id,
		Started: started.UTC(), Finished: time.Now().UTC(), OK: err == nil, ComponentSeconds: res.ComponentSeconds()}
	if !res.Started.IsZero() {
		rec.Started, rec.Finished = res.Started.UTC(), res.Finished.UTC()
	}
	if err != nil {
		rec.Error = err.Error()
	}
	if data, jerr := json.Marshal(res); jerr == nil && res.Snapshot != "" {
		rec.Result = data
	}
	return rec
}

// printDrill prints the steps of rec, their times and the verdict.
func printDrill(w io.Writer, m *snapshot.Manifest, rec *drill.Record) {
	var res drill.Result
	json.Unmarshal(rec.Result, &res)
	fmt.Fprintf(w, "drill of snapshot %s (%s, %s):\n", m.ID, m.Started.UTC().Format(time.RFC3339), human.Bytes(m.Bytes()))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, st := range res.Steps {
		verdict := st.Checked
		if st.Error != "" {
			verdict = "FAILED: " + st.Error
		}
		fmt.Fprintf(tw, "  %s/%s\t%s\t%s\t%s\n", human.Printable(st.Component, 20), human.Printable(st.Name, 60), st.What,
			human.Duration(time.Duration(st.Seconds*float64(time.Second))), human.Printable(verdict, 200))
	}
	tw.Flush()
	if rec.OK {
		fmt.Fprintf(w, "drill: ok: restored and checked in %s (the RTO of this snapshot on this machine)\n", human.Duration(rec.Duration()))
		return
	}
	fmt.Fprintf(w, "drill: FAILED after %s\n", human.Duration(rec.Duration()))
}

// drillScheduled is the daemon's drill: the newest complete snapshot,
// its signature checked against the configured signer, and a summary line
// of the times.
func drillScheduled(ctx context.Context, cfg *config.Config, s storage.Store) (*snapshot.Manifest, string, error) {
	d, err := newDriller(cfg, nil, "")
	if err != nil {
		return nil, "", err
	}
	if d.signer, err = cfg.Encryption.TrustedSigner(); err != nil {
		return nil, "", fmt.Errorf("drill: %w", err)
	}
	m, rec, err := d.run(ctx, cfg, s, "")
	return m, drillSummary(rec), err
}

// drillSummary is "RTO 14m3s: postgres 12m1s, redis 5.2s" for a drill
// that ran; "" otherwise.
func drillSummary(rec *drill.Record) string {
	if rec == nil || !rec.OK {
		return ""
	}
	var parts []string
	for _, c := range engines.Names() {
		if sec, ok := rec.ComponentSeconds[c]; ok {
			parts = append(parts, fmt.Sprintf("%s %s", c, human.Duration(time.Duration(sec*float64(time.Second)))))
		}
	}
	return fmt.Sprintf("restore drill ok: RTO %s on this machine: %s", human.Duration(rec.Duration()), strings.Join(parts, ", "))
}
