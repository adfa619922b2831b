package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"mbackup/internal/config"
	"mbackup/internal/engine"
	"mbackup/internal/progress"
	"mbackup/internal/restore"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// verifyFlags are verify's options.
type verifyFlags struct {
	all        bool
	identities []string
	into       []string
	staging    string
	trust      trustFlags
	version    string // --version: a manifest version of the snapshot (b2)
}

func runVerify(ctx context.Context, e *env, args []string) error {
	var f verifyFlags
	fs := e.flagSet("verify")
	fs.BoolVar(&f.all, "all", false, "verify every snapshot, not only the newest")
	fs.Func("i", "age identity `FILE`: also decrypt every artifact and check its plaintext (repeatable)", func(s string) error {
		f.identities = append(f.identities, s)
		return nil
	})
	fs.Func("restore-into", "scratch server `URL` to restore into and count rows: postgres://USER[:PASS]@HOST:PORT/?sslmode=disable "+
		"or mysql://USER[:PASS]@HOST:PORT (repeatable; passwords also from $PGPASSWORD, $MYSQL_PWD)", func(s string) error {
		f.into = append(f.into, s)
		return nil
	})
	fs.StringVar(&f.staging, "staging", "/var/tmp", "`directory` where --restore-into stages each artifact")
	f.trust.register(fs)
	fs.StringVar(&f.version, "version", "", "verify the snapshot ID from this stored version of its manifest, `VERSION_ID` "+
		"as mbackup list --all-versions shows it (b2)")
	asJSON := fs.Bool("json", false, "print every snapshot's verdict as one JSON document on standard output; "+
		"the lines go to standard error (see the README's \"JSON output\")")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 1 || (f.all && len(pos) > 0):
		return usagef("verify: give one snapshot id, or --all")
	case f.version != "" && len(pos) == 0:
		return usagef("verify: --version %s needs the snapshot ID it is a version of", f.version)
	case len(f.into) > 0 && len(f.identities) == 0:
		return usagef("verify: --restore-into needs -i IDENTITY to decrypt the dumps")
	}
	v := verifier{e: e, out: e.stdout, staging: f.staging, tty: e.terminal()}
	if *asJSON {
		v.out = e.stderr // standard output holds the JSON alone
	}
	if v.scratch, err = restore.ScratchTargets(f.into); err != nil {
		return usagef("%v", err)
	}
	doc := verifyJSON{Snapshots: []verifiedJSON{}, Incomplete: []string{}}
	err = v.run(ctx, f, first(pos), &doc)
	if *asJSON {
		doc.OK, doc.Error = err == nil, errText(ctx, err)
		return errors.Join(err, printJSON(e.stdout, doc))
	}
	return err
}

// run verifies the snapshots f and id name, adding each verdict to doc.
func (v *verifier) run(ctx context.Context, f verifyFlags, id string, doc *verifyJSON) error {
	for _, p := range f.identities {
		more, err := restore.ReadIdentities(p)
		if err != nil {
			return err
		}
		v.ids = append(v.ids, more...)
	}
	cfg, store, done, err := v.e.readStore(ctx, "mbackup verify") // prune waits until done
	if err != nil {
		return err
	}
	defer done()
	v.store = store
	ms, incomplete, err := v.fromVersions(ctx, f, cfg, id)
	if ms == nil && err == nil {
		ms, incomplete, err = restore.ToVerify(ctx, store, id, f.all)
		err = versionsHint(store, err)
	}
	for _, id := range incomplete {
		fmt.Fprintf(v.out, "%s: incomplete (an interrupted run, no manifest): not a snapshot, prune removes it\n", id)
	}
	doc.Incomplete = orEmpty(incomplete)
	if err != nil {
		return badIDUsage(err)
	}
	if v.signer, err = f.trust.pinned(cfg); err != nil {
		return err
	}
	failed := 0
	for _, en := range ms {
		r := verifiedJSON{ID: en.ID, Status: en.Status, Time: utc(en.Date()), Future: en.Future, Checks: []string{}}
		switch {
		case en.Manifest == nil:
			fmt.Fprintf(v.out, "%s: FAILED: %s: %s\n  %s\n", en.ID, en.Status, en.Reason, en.Hint())
			r.Error = en.Reason + "; " + en.Hint()
		default:
			if en.Future {
				fmt.Fprintf(v.out, "%s: dated in the future (%s): a wrong clock or a forged manifest\n", en.ID, en.Date().UTC().Format(time.RFC3339))
			}
			v.verify(ctx, en.Manifest, &r)
		}
		if !r.OK {
			failed++
		}
		doc.Snapshots = append(doc.Snapshots, r)
	}
	if failed > 0 {
		return fmt.Errorf("verify: %d of %d snapshots failed", failed, len(ms))
	}
	return nil
}

// fromVersions is the snapshot id to verify when its stored versions say
// the store as listed is not the snapshot the backup host committed (see
// fromVersions), with v's store set to the view of those versions; nil
// when the store is read as it is.
func (v *verifier) fromVersions(ctx context.Context, f verifyFlags, cfg *config.Config, id string) ([]snapshot.Entry, []string, error) {
	if _, ok := v.store.(storage.Versioned); !ok && f.version == "" || id == "" {
		return nil, nil, nil
	}
	signer, err := f.trust.pinned(cfg)
	if err != nil {
		return nil, nil, err
	}
	view, m, err := fromVersions(ctx, v.e.stderr, v.store, id, f.version, signer)
	if err != nil || m == nil {
		return nil, nil, err
	}
	v.store = view
	en := snapshot.Entry{ID: id, Status: m.Status, Manifest: m}
	en.Future = en.FutureAt(time.Now())
	return []snapshot.Entry{en}, nil, nil
}

// verifyJSON is what "mbackup verify --json" prints.
type verifyJSON struct {
	OK        bool           `json:"ok"`
	Snapshots []verifiedJSON `json:"snapshots"` // newest first
	// Incomplete are interrupted runs (no manifest) left out with --all.
	Incomplete []string `json:"incomplete"`
	Error      string   `json:"error"`
}

// verifiedJSON is the verdict on one snapshot.
type verifiedJSON struct {
	ID     string    `json:"id"`
	Status string    `json:"status"`
	Time   time.Time `json:"time"`
	Future bool      `json:"future"` // dated in the future: a wrong clock or a forged manifest
	OK     bool      `json:"ok"`
	// Checks are the checks made, in order, the failed one last:
	// signature, stored_hashes, plaintext_hashes (with -i), restore_drill
	// (with --restore-into).
	Checks      []string         `json:"checks"`
	Artifacts   int              `json:"artifacts"`
	StoredBytes int64            `json:"stored_bytes"`
	Drill       *verifyDrillJSON `json:"restore_drill"` // null without --restore-into, or when an earlier check failed
	Error       string           `json:"error"`
}

// verifyDrillJSON is the restore into scratch servers of --restore-into.
type verifyDrillJSON struct {
	OK              bool    `json:"ok"`
	Artifacts       int     `json:"artifacts"`
	Tables          int     `json:"tables"` // whose row counts equal the backup's
	DurationSeconds float64 `json:"duration_seconds"`
}

// verifier checks snapshots and prints one verdict per snapshot to out.
type verifier struct {
	e       *env
	out     io.Writer
	store   storage.Store
	ids     []age.Identity
	scratch []engine.Scratch // --restore-into
	staging string
	signer  ssh.PublicKey      // nil with --insecure-skip-signature
	tty     *progress.Terminal // standard error's terminal, for the progress; nil off one
}

// verify checks m, prints the verdict and records it in r.
func (v verifier) verify(ctx context.Context, m *snapshot.Manifest, r *verifiedJSON) {
	r.Artifacts, r.StoredBytes = len(m.Artifacts), m.Bytes()
	if v.signer != nil {
		r.Checks = append(r.Checks, "signature")
	}
	am, err := authenticate(ctx, v.e, v.store, m, v.signer)
	if err != nil {
		fmt.Fprintf(v.out, "%s: FAILED (signature):\n  %s\n", m.ID, err)
		r.Checks, r.Error = append(r.Checks[:0], "signature"), err.Error()
		return
	}
	m = am
	what := "stored size and sha256"
	if v.signer != nil {
		what = "signature, " + what
	}
	r.Checks = append(r.Checks, "stored_hashes")
	if len(v.ids) > 0 {
		what += ", decrypted size and sha256"
		r.Checks = append(r.Checks, "plaintext_hashes")
	}
	rb := snapshot.ReadBack{Identities: v.ids, Plain: len(v.ids) > 0, Scan: restore.Scanner}
	if err := v.readBack(ctx, rb, m); err != nil {
		fmt.Fprintf(v.out, "%s: FAILED (%s):\n  %s\n", m.ID, what, strings.ReplaceAll(err.Error(), "\n", "\n  "))
		r.Error = err.Error()
		return
	}
	fmt.Fprintf(v.out, "%s: %s: %d artifacts, %s: ok\n", m.ID, m.Status, len(m.Artifacts), what)
	if len(v.scratch) == 0 {
		r.OK = true
		return
	}
	r.Checks = append(r.Checks, "restore_drill")
	rep, err := restore.Drill(ctx, m, v.scratch, restore.Options{Store: v.store, Identities: v.ids, StagingDir: v.staging})
	tables := 0
	for _, s := range rep.Steps {
		tables += s.Tables
	}
	r.Drill = &verifyDrillJSON{OK: err == nil, Artifacts: len(rep.Steps), Tables: tables, DurationSeconds: rep.Total.Seconds()}
	if err != nil {
		fmt.Fprintf(v.out, "%s: restore drill FAILED:\n  %s\n", m.ID, strings.ReplaceAll(err.Error(), "\n", "\n  "))
		r.Error = err.Error()
		return
	}
	fmt.Fprintf(v.out, "%s: restore drill: %d artifacts restored into scratch databases in %s, "+
		"row counts of %d tables equal to the backup's: ok\n", m.ID, len(rep.Steps), roundDuration(rep.Total), tables)
	r.OK = true
}
