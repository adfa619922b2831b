package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

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
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 1 || (f.all && len(pos) > 0):
		return usagef("verify: give one snapshot id, or --all")
	case len(f.into) > 0 && len(f.identities) == 0:
		return usagef("verify: --restore-into needs -i IDENTITY to decrypt the dumps")
	}
	scratch, err := restore.ScratchTargets(f.into)
	if err != nil {
		return usagef("%v", err)
	}
	var ids []age.Identity
	for _, p := range f.identities {
		more, err := restore.ReadIdentities(p)
		if err != nil {
			return err
		}
		ids = append(ids, more...)
	}
	cfg, store, done, err := e.readStore(ctx, "mbackup verify") // prune waits until done
	if err != nil {
		return err
	}
	defer done()
	ms, incomplete, err := restore.ToVerify(ctx, store, first(pos), f.all)
	for _, id := range incomplete {
		fmt.Fprintf(e.stdout, "%s: incomplete (an interrupted run, no manifest): not a snapshot, prune removes it\n", id)
	}
	if err != nil {
		return badIDUsage(err)
	}
	signer, err := f.trust.pinned(cfg)
	if err != nil {
		return err
	}
	v := verifier{e: e, store: store, ids: ids, scratch: scratch, staging: f.staging, signer: signer, tty: e.terminal()}
	failed := 0
	for _, en := range ms {
		if en.Manifest == nil {
			fmt.Fprintf(e.stdout, "%s: FAILED: %s: %s\n  %s\n", en.ID, en.Status, en.Reason, en.Hint())
			failed++
			continue
		}
		if en.Future {
			fmt.Fprintf(e.stdout, "%s: dated in the future (%s): a wrong clock or a forged manifest\n", en.ID, en.Date().UTC().Format(time.RFC3339))
		}
		if !v.verify(ctx, en.Manifest) {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("verify: %d of %d snapshots failed", failed, len(ms))
	}
	return nil
}

// verifier checks snapshots and prints one verdict per snapshot.
type verifier struct {
	e       *env
	store   storage.Store
	ids     []age.Identity
	scratch []engine.Scratch // --restore-into
	staging string
	signer  ssh.PublicKey      // nil with --insecure-skip-signature
	tty     *progress.Terminal // standard error's terminal, for the progress; nil off one
}

func (v verifier) verify(ctx context.Context, m *snapshot.Manifest) bool {
	am, err := authenticate(ctx, v.e, v.store, m, v.signer)
	if err != nil {
		fmt.Fprintf(v.e.stdout, "%s: FAILED (signature):\n  %s\n", m.ID, err)
		return false
	}
	m = am
	what := "stored size and sha256"
	if v.signer != nil {
		what = "signature, " + what
	}
	if len(v.ids) > 0 {
		what += ", decrypted size and sha256"
	}
	rb := snapshot.ReadBack{Identities: v.ids, Plain: len(v.ids) > 0, Scan: restore.Scanner}
	if err := v.readBack(ctx, rb, m); err != nil {
		fmt.Fprintf(v.e.stdout, "%s: FAILED (%s):\n  %s\n", m.ID, what, strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return false
	}
	fmt.Fprintf(v.e.stdout, "%s: %s: %d artifacts, %s: ok\n", m.ID, m.Status, len(m.Artifacts), what)
	if len(v.scratch) == 0 {
		return true
	}
	rep, err := restore.Drill(ctx, m, v.scratch, restore.Options{Store: v.store, Identities: v.ids, StagingDir: v.staging})
	tables := 0
	for _, s := range rep.Steps {
		tables += s.Tables
	}
	if err != nil {
		fmt.Fprintf(v.e.stdout, "%s: restore drill FAILED:\n  %s\n", m.ID, strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return false
	}
	fmt.Fprintf(v.e.stdout, "%s: restore drill: %d artifacts restored into scratch databases in %s, "+
		"row counts of %d tables equal to the backup's: ok\n", m.ID, len(rep.Steps), roundDuration(rep.Total), tables)
	return true
}
