package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"mbackup/internal/config"
	"mbackup/internal/draft"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// quickstartOptions are where quickstart looks for the local services.
// Passwords come from the usual variables (PGPASSWORD, REDISCLI_AUTH,
// MYSQL_PWD) and are written to 0600 files beside the configuration.
type quickstartOptions struct {
	dir   string
	local draft.Local
}

func runQuickstart(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("quickstart")
	o := quickstartOptions{}
	l := &o.local
	fs.StringVar(&o.dir, "dir", "mbackup-quickstart", "`directory` for the identity, the configuration and the backups")
	fs.StringVar(&l.PGHost, "pg-host", "/var/run/postgresql", "PostgreSQL `host` or socket directory")
	fs.IntVar(&l.PGPort, "pg-port", 5432, "PostgreSQL `port`")
	fs.StringVar(&l.PGUser, "pg-user", "", "PostgreSQL `user` (default: this user, then postgres)")
	fs.StringVar(&l.RedisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis `URL`")
	fs.StringVar(&l.MySQLHost, "mysql-host", "/run/mysqld/mysqld.sock", "MySQL/MariaDB `host` or socket path")
	fs.IntVar(&l.MySQLPort, "mysql-port", 3306, "MySQL/MariaDB `port`")
	fs.StringVar(&l.MySQLUser, "mysql-user", "", "MySQL/MariaDB `user` (default: this user)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("quickstart: unexpected argument %q", fs.Arg(0))
	}
	l.PGPassword, l.RedisPassword, l.MySQLPassword = os.Getenv("PGPASSWORD"), os.Getenv("REDISCLI_AUTH"), os.Getenv("MYSQL_PWD")
	return quickstart(ctx, e, o)
}

func quickstart(ctx context.Context, e *env, o quickstartOptions) error {
	abs, err := filepath.Abs(o.dir)
	if err != nil {
		return fmt.Errorf("quickstart: --dir %s: %w", o.dir, err)
	}
	o.dir = abs // the configuration's paths are absolute: it works from any directory
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return fmt.Errorf("quickstart: cannot create %s: %w: choose a directory you may write with --dir DIR", o.dir, pathCause(err))
	}
	fmt.Fprintf(e.stdout, "mbackup quickstart: a first backup of this machine into %s/\n\n", o.dir)
	cfgPath := filepath.Join(o.dir, "mbackup.yaml")
	keys, err := draft.TrialKeys(o.dir)
	if err != nil {
		return fmt.Errorf("quickstart: %w: fix it, or choose another directory with --dir DIR", err)
	}
	if _, err := os.Stat(cfgPath); errors.Is(err, fs.ErrNotExist) {
		if err := quickstartDraft(ctx, e, o, cfgPath, keys); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "  reusing %s (delete it and its .pass files to probe the services again)\n", cfgPath)
	}
	idNote := "(existing)"
	if keys.NewIdentity {
		idNote = "(new, 0600: needed to restore these backups)"
	}
	fmt.Fprintf(e.stdout, "\n  %-10s %s %s\n", "identity", filepath.Join(o.dir, "identity.txt"), idNote)
	fmt.Fprintf(e.stdout, "  %-10s %s\n", "config", cfgPath)
	e.configPath = cfgPath
	return quickstartBackup(ctx, e, o)
}

// quickstartDraft probes the services, says what it found and writes the
// configuration with their password files.
func quickstartDraft(ctx context.Context, e *env, o quickstartOptions, cfgPath string, keys draft.Keys) error {
	probes := draft.ProbeLocal(ctx, o.local)
	for _, p := range probes {
		if p.Err != nil {
			fmt.Fprintf(e.stdout, "  %-10s left out: %v\n", p.Service, p.Err)
		} else {
			fmt.Fprintf(e.stdout, "  %-10s %s\n", p.Service, p.Summary)
		}
	}
	d, err := draft.Trial(filepath.Join(o.dir, "backups"), keys.Recipient, keys.Signer, probes)
	if err != nil {
		return fmt.Errorf("quickstart: %w (see the reasons above)", err)
	}
	if err := d.Write(cfgPath); err != nil {
		return fmt.Errorf("quickstart: %w%s", err, existsHint(err, " (move it away, or choose another --dir)"))
	}
	return nil
}

// quickstartBackup takes the snapshot, checks it with the identity and
// says what to do next.
func quickstartBackup(ctx context.Context, e *env, o quickstartOptions) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	return withStore(ctx, cfg.Storage, func(store storage.Store) error {
		return quickstartCheck(ctx, e, o, cfg, store)
	})
}

// quickstartCheck takes the snapshot into store and reads it back.
func quickstartCheck(ctx context.Context, e *env, o quickstartOptions, cfg *config.Config, store storage.Store) error {
	m, takeErr := takeSnapshot(ctx, e, cfg, store, nil)
	if m == nil {
		return takeErr
	}
	fmt.Fprintln(e.stdout)
	printSummary(e, m)
	f, err := os.Open(filepath.Join(o.dir, "identity.txt"))
	if err != nil {
		return fmt.Errorf("quickstart: %w", err)
	}
	ids, err := age.ParseIdentities(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("quickstart: identity: %w", err)
	}
	signer, err := cfg.Encryption.TrustedSigner()
	if err != nil {
		return fmt.Errorf("quickstart: %w", err)
	}
	if m, err = snapshot.Authenticate(ctx, store, m.ID, signer); err != nil {
		return fmt.Errorf("quickstart: verify: %w", err)
	}
	if err := snapshot.Check(ctx, store, m, ids...); err != nil {
		return fmt.Errorf("quickstart: verify: %w", err)
	}
	fmt.Fprintf(e.stdout, "\nverified: the manifest's signature, and every artifact read back, decrypted and matched its sizes and sha256\n")
	fmt.Fprint(e.stdout, quickstartNext(o.dir, m.ID))
	return takeErr
}

// pathCause is the cause of a path error, without the operation and path
// the message names already.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// letters, digits and "/._-+,:@%=": the commands quickstart prints can be
// pasted whatever --dir is.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		safe = safe && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+,:@%=", r))
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func quickstartNext(dir, id string) string {
	q := func(name string) string { return shellQuote(filepath.Join(dir, name)) }
	return fmt.Sprintf(`
Look at it:    mbackup --config %[1]s list
Read one back: age -d -i %[2]s %[3]s/<component>/<name>.zst.age | zstd -d
               (README: "Restore by hand")

For production:
  1. On your own computer, not this server: mbackup keygen -o ~/mbackup-identity.txt
     Keep that identity offline, in two places. The server only gets the printed age1... recipient.
  2. On this server: mbackup keygen --signing -o /etc/mbackup/signing.key (it signs every
     snapshot). Keep the ssh-ed25519 line it prints with your identity: restores trust it.
  3. Create a B2 bucket and an application key restricted to it.
  4. Write /etc/mbackup/mbackup.yaml from configs/mbackup.example.yaml (storage type b2,
     the recipient, signing_key_file and signer, the sources listed above), then: mbackup backup
  5. Delete %[2]s from this server once you are done trying.
`, q("mbackup.yaml"), q("identity.txt"), q(filepath.Join("backups", "snapshots", id)))
}
