package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/mysqldump"
	"mbackup/internal/notify"
	"mbackup/internal/pgdump"
	"mbackup/internal/redisdump"
	"mbackup/internal/snapshot"
	"mbackup/internal/sshsig"
	"mbackup/internal/storage"
	"mbackup/internal/storage/b2"
	"mbackup/internal/storage/s3"
)

// checker prints one line per check: ✅, ⚠️ (works, but see the hint) or
// ❌ (will fail, with the fix). Any ❌ makes "mbackup check" exit 1.
type checker struct {
	w      io.Writer
	failed int
}

func (c *checker) ok(what, format string, a ...any) {
	fmt.Fprintf(c.w, "✅ %s: %s\n", what, fmt.Sprintf(format, a...))
}

func (c *checker) warn(what, format string, a ...any) {
	fmt.Fprintf(c.w, "⚠️  %s: %s\n", what, fmt.Sprintf(format, a...))
}

func (c *checker) fail(what, format string, a ...any) {
	c.failed++
	fmt.Fprintf(c.w, "❌ %s: %s\n", what, fmt.Sprintf(format, a...))
}

func runCheck(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("check")
	notifyToo := fs.Bool("notify", false, "also post a test message to Slack")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("check: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	c := &checker{w: e.stdout}
	c.ok("config", "%s loads", e.configPath)
	checkRecipients(c, cfg)
	checkSigning(c, cfg)
	checkIdentities(c, e.configPath)
	checkStorage(ctx, c, cfg.Storage)
	if cfg.Postgres != nil {
		checkPostgresSource(ctx, c, cfg.Postgres)
	}
	for _, r := range cfg.Redis {
		checkRedisSource(ctx, c, r)
	}
	if cfg.MySQL != nil {
		checkMySQL(ctx, c, cfg.MySQL)
	}
	if cfg.Media != nil {
		checkMedia(ctx, c, cfg.Media)
	}
	checkSlack(ctx, c, cfg, *notifyToo)
	if c.failed > 0 {
		return fmt.Errorf("check: %d of the checks above failed", c.failed)
	}
	return nil
}

func checkRecipients(c *checker, cfg *config.Config) {
	_, texts, err := recipients(cfg)
	if err != nil {
		c.fail("recipients", "%v", err)
		return
	}
	var fps []string
	for _, r := range texts {
		fps = append(fps, snapshot.Fingerprint(r))
	}
	c.ok("recipients", "%d age recipient(s), fingerprints %s", len(texts), strings.Join(fps, ", "))
	if cfg.Encryption.PostQuantum {
		c.warn("recipients", "post-quantum recipients: restoring by hand needs age 1.3 or later (Debian 12 has 1.1.1)")
	}
}

// checkSigning reports the signing key: ❌ when it cannot be used, ⚠️
// when there is none (restores then refuse the snapshots by default).
func checkSigning(c *checker, cfg *config.Config) {
	k, err := cfg.Encryption.SigningKey()
	switch {
	case err != nil:
		c.fail("signing", "%v", err)
	case k == nil:
		c.warn("signing", "encryption.signing_key_file is not set: snapshots are not signed, and restore and verify "+
			"refuse them unless told --insecure-skip-signature; make a key with mbackup keygen --signing -o /etc/mbackup/signing.key")
	case cfg.Encryption.Signer == "":
		c.warn("signing", "manifests are signed by %s; set encryption.signer to %q and keep that line with "+
			"your identity: a restore elsewhere trusts only the signer it is given", sshsig.Fingerprint(k.PublicKey()), k.AuthorizedKey(""))
	default:
		c.ok("signing", "manifests are signed by %s, the pinned encryption.signer", sshsig.Fingerprint(k.PublicKey()))
	}
}

// checkIdentities warns about age identities readable on this host, in
// the places an admin would leave one: beside the config, in /etc/mbackup
// and in the home directory.
func checkIdentities(c *checker, configPath string) {
	dirs := []string{filepath.Dir(configPath), "/etc/mbackup"}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, home)
	}
	var found []string
	seen := map[string]bool{}
	for _, d := range dirs {
		entries, _ := os.ReadDir(d)
		for _, en := range entries {
			p := filepath.Join(d, en.Name())
			if !seen[p] && en.Type().IsRegular() && holdsIdentity(p) {
				found = append(found, p)
			}
			seen[p] = true
		}
	}
	if len(found) > 0 {
		c.warn("identity", "%s hold(s) an age identity: the backup host needs only recipients; "+
			"keep identities offline, or anyone who takes this host can read every backup", strings.Join(found, ", "))
		return
	}
	c.ok("identity", "no age identity beside the config, in /etc/mbackup or the home directory")
}

// holdsIdentity reports whether the file's first lines hold an age identity.
func holdsIdentity(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
	for i := 0; i < 20 && sc.Scan(); i++ {
		if strings.HasPrefix(strings.TrimSpace(sc.Text()), "AGE-SECRET-KEY-") {
			return true
		}
	}
	return false
}

func checkStorage(ctx context.Context, c *checker, sc config.Storage) {
	what := "storage " + sc.Type
	err := withStore(ctx, sc, func(s storage.Store) error {
		entries, err := snapshot.List(ctx, s)
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		if err := probe(ctx, s); err != nil {
			return err
		}
		c.ok(what, "listed %d snapshot(s); wrote, read back and deleted a test object", len(entries))
		checkEntries(c, entries)
		if bs, ok := s.(*b2.Store); ok {
			checkB2(ctx, c, bs)
		}
		return nil
	})
	if err != nil {
		c.fail(what, "%v", err)
	}
}

// checkEntries warns about each snapshot whose manifest does not load or
// that is dated in the future, saying what to do.
func checkEntries(c *checker, entries []snapshot.Entry) {
	for _, en := range entries {
		what := "snapshot " + en.ID
		switch {
		case en.Reason != "":
			c.warn(what, "%s: %s; never deleted by prune, never restored by default: %s", en.Status, en.Reason, en.Hint())
		case en.Future:
			c.warn(what, "dated in the future (%s): a wrong clock on the backup host or a forged manifest; "+
				"never taken as the newest, nor counted by retention: check the clock (timedatectl), then delete it by hand (%s%s/)",
				en.Date().UTC().Format(time.RFC3339), snapshot.Root, en.ID)
		}
	}
}

// probe writes, reads back and deletes a small object under check/.
func probe(ctx context.Context, s storage.Store) error {
	var b [8]byte
	rand.Read(b[:])
	key, body := "check/"+hex.EncodeToString(b[:]), "mbackup check "+time.Now().UTC().Format(time.RFC3339)
	if _, err := s.Put(ctx, key, strings.NewReader(body)); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	defer s.Delete(context.WithoutCancel(ctx), key)
	rc, err := s.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != body {
		return fmt.Errorf("read %s back: got %d bytes (%v)", key, len(got), err)
	}
	if err := s.Delete(ctx, key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

func checkB2(ctx context.Context, c *checker, s *b2.Store) {
	a, err := s.Inspect(ctx)
	if err != nil {
		c.fail("storage b2 key", "%v", err)
		return
	}
	if m := a.Missing(); len(m) > 0 {
		c.fail("storage b2 key", "lacks %s: make a key with %s (b2 key create --bucket BUCKET NAME %s)",
			strings.Join(m, ", "), strings.Join(b2.Needed, ", "), strings.Join(b2.Needed, ","))
	} else {
		c.ok("storage b2 key", "has %s", strings.Join(b2.Needed, ", "))
	}
	switch {
	case !a.EncryptionReadable:
		c.warn("storage b2 encryption", "this key may not read the bucket's default encryption (readBucketEncryption); check it in the B2 web console")
	case a.Encryption == "":
		c.warn("storage b2 encryption", "the bucket's default server-side encryption is off: turn on SSE-B2 in its settings "+
			"(defence in depth: the artifacts are age-encrypted anyway)")
	default:
		c.ok("storage b2 encryption", "bucket default encryption %s", a.Encryption)
	}
}

func checkPostgresSource(ctx context.Context, c *checker, p *config.Postgres) {
	what := fmt.Sprintf("postgres %s:%d as %s", orLocal(p.Host), p.Port, p.User)
	d, err := pgdump.Open(ctx, pgdump.Config{Host: p.Host, Port: p.Port, User: p.User, Password: p.Password.Reveal(),
		SSLMode: p.SSLMode, Databases: p.Databases})
	if err != nil {
		c.fail(what, "%v", err)
		return
	}
	dbs, err := d.Databases(ctx)
	if err != nil {
		c.fail(what, "%v", err)
		return
	}
	c.ok(what, "server %s, %s; databases %s", d.ServerVersion(), d.ClientVersion(), strings.Join(dbs, ", "))
	if !p.Globals {
		return
	}
	if ok, err := d.CanReadRolePasswords(ctx); err != nil {
		c.fail(what, "%v", err)
	} else if !ok {
		c.warn(what, "cannot read pg_authid: the globals will hold the roles without their passwords "+
			"(back up as a superuser to include them; set them again by hand after a restore otherwise)")
	}
}

func checkRedisSource(ctx context.Context, c *checker, r config.Redis) {
	what := "redis " + r.Name
	start := time.Now()
	n := &countWriter{}
	info, err := redisdump.Dump(ctx, redisdump.Config{Name: r.Name, URL: r.URL, Password: r.Password.Reveal()}, n)
	if err != nil {
		c.fail(what, "%v", err)
		return
	}
	c.ok(what, "server %s; SYNC permitted: an RDB of %s read in %s", info.ServerVersion, humanBytes(n.n), roundDuration(time.Since(start)))
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func checkMySQL(ctx context.Context, c *checker, m *config.MySQL) {
	what := fmt.Sprintf("mysql %s:%d as %s", orLocal(m.Host), m.Port, m.User)
	dbs, err := mysqldump.Databases(ctx, mysqlConfig(m))
	if err != nil {
		c.fail(what, "%v", err)
		return
	}
	if len(dbs) == 0 {
		c.warn(what, "reachable, but it holds no database to back up (the system databases are never dumped)")
		return
	}
	if _, err := mysqldump.CountRows(ctx, mysqlConfig(m), dbs[0]); err != nil {
		c.fail(what, "reach database %s: %v", dbs[0], err)
		return
	}
	c.ok(what, "databases %s", strings.Join(dbs, ", "))
}

// errFound stops a listing at its first object.
var errFound = errors.New("found")

func checkMedia(ctx context.Context, c *checker, m *config.Media) {
	src := m.Source
	what := fmt.Sprintf("media source %s bucket %s", src.Endpoint, src.Bucket)
	host, secure, err := config.ParseEndpoint(src.Endpoint)
	if err != nil {
		c.fail(what, "%v", err)
		return
	}
	s, err := s3.New(ctx, s3.Config{Endpoint: host, DisableTLS: !secure, Region: src.Region, Bucket: src.Bucket,
		AccessKeyID: src.AccessKeyID, SecretAccessKey: src.SecretAccessKey.Reveal()})
	if err != nil {
		c.fail(what, "%v", err)
		return
	}
	first := ""
	err = s.List(ctx, "", func(o storage.Object) error { first = o.Key; return errFound })
	switch {
	case err != nil && !errors.Is(err, errFound):
		c.fail(what, "list: %v", err)
	case first == "":
		c.warn(what, "listable, but empty: is this the bucket Mastodon writes to (S3_BUCKET)?")
	default:
		c.ok(what, "listable")
	}
	if !secure {
		c.warn(what, "plain HTTP: use https:// for a bucket outside this host")
	}
}

func checkSlack(ctx context.Context, c *checker, cfg *config.Config, post bool) {
	if cfg.Notify == nil || cfg.Notify.Slack == nil {
		return
	}
	sl := cfg.Notify.Slack
	s, err := notify.NewSlack(notify.Config{WebhookURL: sl.WebhookURL.Reveal(), Token: sl.Token.Reveal(), Channel: sl.Channel,
		Secrets: configSecrets(cfg)})
	if err != nil {
		c.fail("slack", "%v", err)
		return
	}
	if !post {
		c.ok("slack", "configured; mbackup check --notify posts a test message")
		return
	}
	now := time.Now()
	err = s.Notify(ctx, notify.Event{Job: "check", Result: "success", Host: cfg.Host, Started: now, Finished: now,
		Summary: "a test message from mbackup check"})
	if err != nil {
		c.fail("slack", "%v", err)
		return
	}
	c.ok("slack", "test message posted")
}

func orLocal(host string) string {
	if host == "" {
		return "localhost"
	}
	return host
}
