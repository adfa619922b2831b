package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"mbackup/internal/artifact"
	"mbackup/internal/engine"
	"mbackup/internal/engines"
	"mbackup/internal/restore"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// restoreFlags are restore's options; in guided mode they are the defaults
// of the prompts.
type restoreFlags struct {
	yes, clean    bool
	dryRun, json  bool
	as            string
	identities    []string
	only, staging string
	jobs          int
	// targets build each engine's target from its flags (see
	// engine.Restorable).
	targets map[artifact.Component]func(engine.Asker) (engine.Target, error)
	trust   trustFlags
	version string // --version: a manifest version of the snapshot (b2)
}

func (f *restoreFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.yes, "yes", false, "restore without prompts, from the flags (for scripts)")
	fs.Func("i", "age identity `FILE` (repeatable; required)", func(s string) error {
		f.identities = append(f.identities, s)
		return nil
	})
	fs.StringVar(&f.only, "only", "", "restore only these `components`, comma-separated: "+strings.Join(engines.Names(), ", ")+
		" or component/name (postgres/globals, postgres/DB, redis/NAME, mysql/DB, files//PATH)")
	fs.BoolVar(&f.clean, "clean", false, "restore into databases that exist and are not empty: DROPS and recreates the dump's objects (MySQL: the whole database)")
	fs.StringVar(&f.staging, "staging", "/var/tmp", "`directory` where each artifact is staged, decrypted, while it is restored")
	fs.IntVar(&f.jobs, "jobs", 2, "`N` parallel pg_restore jobs (-j)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the plan, read and check every artifact and target, write nothing; exit 0 if the restore would start, 1 if not")
	fs.BoolVar(&f.json, "json", false, "with --dry-run: print the plan and the check's result as JSON on standard output (the rest goes to standard error)")
	fs.StringVar(&f.as, "as", "", "restore the one database selected with --only (postgres/DB or mysql/DB) under the name `NAME`, e.g. next to the original for a check")
	f.targets = map[artifact.Component]func(engine.Asker) (engine.Target, error){}
	for _, e := range engines.All {
		if r, ok := e.(engine.Restorable); ok {
			f.targets[e.Component()] = r.TargetFlags(fs)
		}
	}
	f.trust.register(fs)
	fs.StringVar(&f.version, "version", "", "restore the snapshot ID from this stored version of its manifest, `VERSION_ID` "+
		"as mbackup list --all-versions shows it (b2); its signature is checked all the same")
}

func runRestore(ctx context.Context, e *env, args []string) error {
	var f restoreFlags
	fs := e.flagSet("restore")
	f.register(fs)
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("restore: one snapshot id at most, got %q", pos)
	}
	if err := f.validate(); err != nil {
		return err
	}
	cfg, store, done, err := e.readStore(ctx, "mbackup restore") // prune waits until done
	if err != nil {
		return err
	}
	defer done()
	signer, err := f.trust.pinned(cfg)
	if err != nil {
		return err
	}
	r := &restorer{e: e, f: f, store: store, base: store, signer: signer, out: e.stdout}
	if f.json {
		r.out = e.stderr // standard output holds the JSON alone
	}
	if !f.yes {
		r.p = newPrompter(e.stdin, r.out)
	}
	return r.run(ctx, first(pos))
}

// validate refuses flags that do not go together.
func (f *restoreFlags) validate() error {
	switch {
	case f.yes && len(f.identities) == 0:
		return usagef("restore: --yes needs -i IDENTITY: the identity file whose recipient the snapshot was encrypted to")
	case f.json && !f.dryRun:
		return usagef("restore: --json prints the plan of a dry run: give --dry-run too")
	case f.as != "" && f.only == "":
		return usagef("restore: --as %s needs --only naming the one database to restore under that name (--only postgres/DB or --only mysql/DB)", f.as)
	}
	return nil
}

// restorer holds one restore's state while it asks and runs.
type restorer struct {
	e       *env
	f       restoreFlags
	p       *prompter     // nil with --yes
	store   storage.Store // base, or a view of the snapshot's stored versions
	base    storage.Store
	m       *snapshot.Manifest
	ids     []age.Identity
	targets restore.Targets
	signer  ssh.PublicKey // nil with --insecure-skip-signature
	// out gets what is printed for the operator: standard output, or
	// standard error with --json.
	out io.Writer
	// bar draws the long phases when out is a terminal; nil otherwise,
	// where the restore prints one line per phase.
	bar *restoreBar
}

func (r *restorer) run(ctx context.Context, id string) error {
	if err := r.chooseSnapshot(ctx, id); err != nil {
		return err
	}
	m, err := authenticate(ctx, r.e, r.store, r.m, r.signer)
	if err != nil {
		return err
	}
	r.m = m
	if err := r.identities(); err != nil {
		return err
	}
	only, err := r.components()
	if err != nil {
		return err
	}
	if err := r.askTargets(only); err != nil {
		return err
	}
	steps, err := r.plan(only)
	if err != nil {
		return err
	}
	r.printPlan(steps)
	if r.f.dryRun {
		return r.dryRun(ctx, steps)
	}
	if err := r.confirm(); err != nil {
		return err
	}
	rep, err := restore.Run(ctx, steps, r.targets, r.options(false))
	r.bar.close()
	printReport(r.out, r.m, rep, err)
	return suggestAs(err)
}

// plan is restore.Plan, the one database renamed with --as.
func (r *restorer) plan(only []string) ([]restore.Step, error) {
	steps, err := restore.Plan(r.m, only, r.targets, r.f.clean)
	if err != nil || r.f.as == "" {
		return steps, err
	}
	return restore.As(steps, r.f.as, r.targets, r.f.clean)
}

func (r *restorer) options(dryRun bool) restore.Options {
	o := restore.Options{
		Store: r.store, Identities: r.ids, StagingDir: r.f.staging, Jobs: r.f.jobs, Clean: r.f.clean,
		Progress: r.out, DryRun: dryRun,
	}
	if isTerminal(r.out) {
		r.bar = newRestoreBar(r.out)
		o.Progress = r.bar
		o.OnProgress = func(p restore.Progress) {
			r.bar.show(p.Step, string(p.Phase), p.Done, p.Total, p.Unit, p.What, p.Elapsed)
		}
	}
	return o
}

// findSnapshot is restore.Find, with an argument that is no snapshot id
// a usage error.
func findSnapshot(ctx context.Context, s storage.Store, id string) (*snapshot.Manifest, error) {
	m, err := restore.Find(ctx, s, id)
	return m, badIDUsage(err)
}

// badIDUsage makes an argument that is no snapshot id a usage error.
func badIDUsage(err error) error {
	var bad *restore.BadIDError
	if errors.As(err, &bad) {
		return usagef("%v", err)
	}
	return err
}

// find loads snapshot id (the newest good one for ""), from its stored
// versions when they say so (see fromVersions), and sets the store to
// read it from.
func (r *restorer) find(ctx context.Context, id string) (*snapshot.Manifest, error) {
	view, m, err := fromVersions(ctx, r.e.stderr, r.base, id, r.f.version, r.signer)
	if err != nil || m != nil {
		r.store = view
		return m, err
	}
	r.store = r.base
	m, err = findSnapshot(ctx, r.base, id)
	return m, versionsHint(r.base, err)
}

func (r *restorer) chooseSnapshot(ctx context.Context, id string) error {
	m, err := r.find(ctx, id)
	if err != nil {
		return err
	}
	printSnapshot(r.out, m)
	if r.p != nil && id == "" {
		other, err := r.p.line("Restore this snapshot? Enter to go on, or another snapshot id", m.ID)
		if err != nil {
			return err
		}
		if other != m.ID {
			if m, err = r.find(ctx, other); err != nil {
				return err
			}
			printSnapshot(r.out, m)
		}
	}
	r.m = m
	return nil
}

func printSnapshot(w io.Writer, m *snapshot.Manifest) {
	fmt.Fprintf(w, "snapshot %s (%s) of host %s, taken %s in %s, %s stored:\n", m.ID, m.Status, m.Host,
		m.Started.UTC().Format("2006-01-02 15:04 MST"), roundDuration(m.Finished.Sub(m.Started)), humanBytes(m.Bytes()))
	for _, a := range m.Artifacts {
		fmt.Fprintf(w, "  %-8s %-28s %10s (%s stored)\n", a.Component, a.Name, humanBytes(a.PlainBytes), humanBytes(a.StoredBytes))
	}
	for _, f := range m.Failed {
		fmt.Fprintf(w, "  %-8s %-28s not in this snapshot: %s\n", f.Component, f.Name, f.Reason)
	}
}

func (r *restorer) identities() error {
	paths := r.f.identities
	if len(paths) == 0 {
		p, err := r.p.line("age identity file (AGE-SECRET-KEY-..., from mbackup keygen)", "")
		if err != nil {
			return err
		}
		paths = []string{p}
	}
	for _, p := range paths {
		ids, err := restore.ReadIdentities(p)
		if err != nil {
			return err
		}
		r.ids = append(r.ids, ids...)
	}
	return nil
}

// components returns the selectors to restore: --only, or the answers.
func (r *restorer) components() ([]string, error) {
	if r.f.only != "" || r.p == nil {
		return splitList(r.f.only), nil
	}
	var only []string
	for _, g := range restore.Groups(r.m) {
		q, def := fmt.Sprintf("Restore %s: %s (%s)?", g.Component, strings.Join(g.Names, ", "), humanBytes(g.Bytes)), true
		if g.Component == string(artifact.Redis) {
			q, def = q+redisWarning, false
		}
		ok, err := r.p.yesNo(q, def)
		if err != nil {
			return nil, err
		}
		if ok {
			only = append(only, g.Component)
		}
	}
	if len(only) == 0 {
		return nil, errors.New("restore: nothing chosen, nothing done")
	}
	return only, nil
}

// redisWarning is why a guided restore leaves Redis out unless told.
const redisWarning = " Its RDB holds Sidekiq's queues as they were at backup time: restoring it can run old jobs " +
	"again (deliveries, emails sent twice). Without it, tootctl feeds build rebuilds the home timelines. " +
	"Answer yes on a planned move, the old server stopped before its last backup."

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// preflightText says what is checked before the first write.
const preflightText = `Before anything is written, every artifact above is downloaded in full (streamed, nothing staged):
  - its stored size and SHA-256 must equal the manifest's, and it must decrypt with the identity given;
  - the SQL fed to psql or mariadb (the globals, MySQL dumps) is also decrypted and decompressed, its size
    and SHA-256 checked, and scanned: one holding a client command (\! and the like) is refused;
  - every file of a files entry is checked against the manifest's size and SHA-256;
  - every target must accept its step: no database that exists and is not empty (without --clean),
    PostgreSQL and the local pg_restore at least as new as the dump's, its extensions available,
    no Redis server running in the data directory, no appendonly files there, no file overwritten
    (without --clean), and room in the staging directory for the largest artifact.
`

// printPlan prints the steps and what is checked before the first.
func (r *restorer) printPlan(steps []restore.Step) {
	fmt.Fprintf(r.out, "\nPlan, in this order (if a step fails, the ones before it stay done):\n")
	for i, s := range steps {
		fmt.Fprintf(r.out, "  %d. %s: %s\n", i+1, s.Name(), s.Does)
	}
	fmt.Fprint(r.out, preflightText)
	if r.f.dryRun {
		fmt.Fprintln(r.out, "This is a dry run: it stops after these checks and writes nothing.")
		return
	}
	fmt.Fprintf(r.out, "Then each step downloads its artifact again, staged, decrypted, in %s, and checks it against the manifest again before applying it.\n", r.f.staging)
}

// confirm asks to go on, when guided.
func (r *restorer) confirm() error {
	if r.p == nil {
		return nil
	}
	answer, err := r.p.line(`Type "restore" to begin`, "")
	if err != nil {
		return err
	}
	if answer != "restore" {
		return errors.New("restore: not confirmed, nothing done")
	}
	return nil
}

// first returns the first of args, or "".
func first(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}
