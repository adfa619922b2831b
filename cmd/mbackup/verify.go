package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"mbackup/internal/mysqldump"
	"mbackup/internal/pgdump"
	"mbackup/internal/redact"
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
	pg, my, err := scratchTargets(f.into)
	if err != nil {
		return err
	}
	var ids []age.Identity
	for _, p := range f.identities {
		more, err := readIdentities(p)
		if err != nil {
			return err
		}
		ids = append(ids, more...)
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	rl, err := readLockStore(ctx, e, cfg.Storage, "mbackup verify") // prune waits until this ends
	if err != nil {
		return err
	}
	defer rl.Release()
	store, err := openStore(ctx, cfg.Storage)
	if err != nil {
		return err
	}
	if c, ok := store.(io.Closer); ok {
		defer c.Close()
	}
	ms, err := verifyTargets(ctx, e, store, first(pos), f.all)
	if err != nil {
		return err
	}
	signer, err := f.trust.pinned(cfg)
	if err != nil {
		return err
	}
	v := verifier{e: e, store: store, ids: ids, pg: pg, my: my, staging: f.staging, signer: signer}
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

// verifyTargets returns the snapshots to verify: id's, every one with a
// manifest with all (reporting incomplete runs), or the newest good one
// (snapshot.NewestGood). An unreadable or newer-format snapshot is
// returned, to fail, when it is named or with all; never as the newest.
func verifyTargets(ctx context.Context, e *env, s storage.Store, id string, all bool) ([]snapshot.Entry, error) {
	if id != "" {
		m, err := findSnapshot(ctx, s, id)
		switch {
		case errors.Is(err, snapshot.ErrNewerFormat):
			return []snapshot.Entry{{ID: id, Status: snapshot.StatusNewerFormat, Reason: err.Error()}}, nil
		case errors.Is(err, snapshot.ErrUnreadable):
			return []snapshot.Entry{{ID: id, Status: snapshot.StatusUnreadable, Reason: err.Error()}}, nil
		case err != nil:
			return nil, err
		}
		en := snapshot.Entry{ID: id, Status: m.Status, Manifest: m}
		en.Future = en.FutureAt(time.Now())
		return []snapshot.Entry{en}, nil
	}
	entries, err := snapshot.List(ctx, s)
	if err != nil {
		return nil, err
	}
	if !all {
		if g, ok := snapshot.NewestGood(entries, time.Now()); ok {
			return []snapshot.Entry{g}, nil
		}
		return nil, errors.New("verify: the store holds no complete snapshot that is not dated in the future (mbackup list shows what it holds; give another one by its id)")
	}
	var out []snapshot.Entry
	for _, en := range entries {
		if en.Status == snapshot.StatusIncomplete {
			fmt.Fprintf(e.stdout, "%s: incomplete (an interrupted run, no manifest): not a snapshot, prune removes it\n", en.ID)
			continue
		}
		out = append(out, en)
	}
	if len(out) == 0 {
		return nil, errors.New("verify: the store holds no snapshot")
	}
	return out, nil
}

// verifier checks snapshots and prints one verdict per snapshot.
type verifier struct {
	e       *env
	store   storage.Store
	ids     []age.Identity
	pg      *pgdump.Config
	my      *mysqldump.Config
	staging string
	signer  ssh.PublicKey // nil with --insecure-skip-signature
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
	if err := rb.Check(ctx, v.store, m); err != nil {
		fmt.Fprintf(v.e.stdout, "%s: FAILED (%s):\n  %s\n", m.ID, what, strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return false
	}
	fmt.Fprintf(v.e.stdout, "%s: %s: %d artifacts, %s: ok\n", m.ID, m.Status, len(m.Artifacts), what)
	if v.pg == nil && v.my == nil {
		return true
	}
	rep, err := restore.Drill(ctx, m, v.pg, v.my, restore.Options{Store: v.store, Identities: v.ids, StagingDir: v.staging})
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

// scratchTargets parses the --restore-into URLs.
func scratchTargets(urls []string) (*pgdump.Config, *mysqldump.Config, error) {
	var pg *pgdump.Config
	var my *mysqldump.Config
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return nil, nil, usagef("verify: --restore-into: %q is not a URL such as postgres://postgres@127.0.0.1:5432/ or mysql://root@127.0.0.1:3306", redactURL(raw))
		}
		port := 0
		if p := u.Port(); p != "" {
			if port, err = strconv.Atoi(p); err != nil {
				return nil, nil, usagef("verify: --restore-into %s: bad port %q", redactURL(raw), p)
			}
		}
		pw, hasPw := u.User.Password()
		switch u.Scheme {
		case "postgres", "postgresql":
			if !hasPw {
				pw = os.Getenv("PGPASSWORD")
			}
			pg = &pgdump.Config{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: pw, SSLMode: u.Query().Get("sslmode")}
		case "mysql", "mariadb":
			if !hasPw {
				pw = os.Getenv("MYSQL_PWD")
			}
			my = &mysqldump.Config{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: pw}
		default:
			return nil, nil, usagef("verify: --restore-into %s: scheme %q is not postgres or mysql", redactURL(raw), u.Scheme)
		}
	}
	return pg, my, nil
}

// redactURL hides a URL's password. An unparsable URL is not shown at all:
// where its password ends is not known.
func redactURL(raw string) string {
	if _, err := url.Parse(raw); err != nil {
		return "[unparsable URL]"
	}
	return redact.String(raw, redact.Mark)
}
