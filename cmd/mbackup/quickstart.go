package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"filippo.io/age"

	"mbackup/internal/config"
	"mbackup/internal/mysqldump"
	"mbackup/internal/pgdump"
	"mbackup/internal/redisdump"
	"mbackup/internal/snapshot"
	"mbackup/internal/sshsig"
	"mbackup/internal/storage"
)

// quickstartOptions are where quickstart looks for the local services.
// Passwords come from the usual variables (PGPASSWORD, REDISCLI_AUTH,
// MYSQL_PWD) and are written to 0600 files beside the configuration.
type quickstartOptions struct {
	dir                 string
	pgHost, pgUser      string
	pgPort              int
	redisURL            string
	mysqlHost, mysqlUsr string
	mysqlPort           int
}

func runQuickstart(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("quickstart")
	o := quickstartOptions{}
	fs.StringVar(&o.dir, "dir", "mbackup-quickstart", "`directory` for the identity, the configuration and the backups")
	fs.StringVar(&o.pgHost, "pg-host", "/var/run/postgresql", "PostgreSQL host or socket directory")
	fs.IntVar(&o.pgPort, "pg-port", 5432, "PostgreSQL port")
	fs.StringVar(&o.pgUser, "pg-user", "", "PostgreSQL user (default: this user, then postgres)")
	fs.StringVar(&o.redisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis URL")
	fs.StringVar(&o.mysqlHost, "mysql-host", "/run/mysqld/mysqld.sock", "MySQL/MariaDB host or socket path")
	fs.IntVar(&o.mysqlPort, "mysql-port", 3306, "MySQL/MariaDB port")
	fs.StringVar(&o.mysqlUsr, "mysql-user", "", "MySQL/MariaDB user (default: this user)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("quickstart: unexpected argument %q", fs.Arg(0))
	}
	return quickstart(ctx, e, o)
}

func quickstart(ctx context.Context, e *env, o quickstartOptions) error {
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return fmt.Errorf("quickstart: %w", err)
	}
	fmt.Fprintf(e.stdout, "mbackup quickstart: a first backup of this machine into %s/\n\n", o.dir)
	cfgPath := filepath.Join(o.dir, "mbackup.yaml")
	recipient, idNote, err := quickstartIdentity(filepath.Join(o.dir, "identity.txt"))
	if err != nil {
		return fmt.Errorf("quickstart: %w", err)
	}
	signer, err := quickstartSigningKey(filepath.Join(o.dir, "signing.key"))
	if err != nil {
		return fmt.Errorf("quickstart: %w", err)
	}
	if _, err := os.Stat(cfgPath); errors.Is(err, fs.ErrNotExist) {
		sections, err := probeServices(ctx, e, o)
		if err != nil {
			return err
		}
		text := quickstartConfig(filepath.Join(o.dir, "backups"), recipient, signer, sections)
		if err := writeNew(cfgPath, []byte(text)); err != nil {
			return fmt.Errorf("quickstart: %w", err)
		}
	} else {
		fmt.Fprintf(e.stdout, "  reusing %s (delete it to probe the services again)\n", cfgPath)
	}
	fmt.Fprintf(e.stdout, "\n  %-10s %s %s\n", "identity", filepath.Join(o.dir, "identity.txt"), idNote)
	fmt.Fprintf(e.stdout, "  %-10s %s\n", "config", cfgPath)
	e.configPath = cfgPath
	return quickstartBackup(ctx, e, o)
}

// quickstartIdentity makes identity.txt unless it exists, and returns its
// recipient.
func quickstartIdentity(path string) (string, string, error) {
	if b, err := os.ReadFile(path); err == nil {
		ids, err := age.ParseIdentities(strings.NewReader(string(b)))
		if err != nil || len(ids) == 0 {
			return "", "", fmt.Errorf("%s: not an age identity file: %v", path, err)
		}
		x, ok := ids[0].(*age.X25519Identity)
		if !ok {
			return "", "", fmt.Errorf("%s: not an X25519 identity", path)
		}
		return x.Recipient().String(), "(existing)", nil
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", err
	}
	text := fmt.Sprintf("# public key: %s\n%s\n", id.Recipient(), id)
	if err := writeNew(path, []byte(text)); err != nil {
		return "", "", err
	}
	return id.Recipient().String(), "(new, 0600: needed to restore these backups)", nil
}

// quickstartSigningKey makes signing.key unless it exists, and returns
// its public line.
func quickstartSigningKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return writeSigningKey(path)
	} else if err != nil {
		return "", err
	}
	k, err := sshsig.ParsePrivateKey(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return k.AuthorizedKey(""), nil
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// probeServices tries each local service and returns the configuration
// sections of those that answered. Secrets from the environment go to 0600
// files in o.dir.
func probeServices(ctx context.Context, e *env, o quickstartOptions) ([]string, error) {
	var sections []string
	if s, err := probePostgres(ctx, o); err != nil {
		fmt.Fprintf(e.stdout, "  %-10s left out: %v\n", "PostgreSQL", err)
	} else {
		fmt.Fprintf(e.stdout, "  %-10s %s\n", "PostgreSQL", s.summary)
		sections = append(sections, s.yaml)
	}
	if s, err := probeRedis(ctx, o); err != nil {
		fmt.Fprintf(e.stdout, "  %-10s left out: %v\n", "Redis", err)
	} else {
		fmt.Fprintf(e.stdout, "  %-10s %s\n", "Redis", s.summary)
		sections = append(sections, s.yaml)
	}
	if s, err := probeMySQL(ctx, o); err != nil {
		fmt.Fprintf(e.stdout, "  %-10s left out: %v\n", "MySQL", err)
	} else {
		fmt.Fprintf(e.stdout, "  %-10s %s\n", "MySQL", s.summary)
		sections = append(sections, s.yaml)
	}
	if len(sections) == 0 {
		return nil, errors.New("quickstart: found no PostgreSQL, Redis or MySQL/MariaDB to back up on this machine (see the reasons above)")
	}
	for _, sec := range []struct{ env, file string }{{"PGPASSWORD", "pg.pass"}, {"REDISCLI_AUTH", "redis.pass"}, {"MYSQL_PWD", "mysql.pass"}} {
		if v := os.Getenv(sec.env); v != "" {
			if err := os.WriteFile(filepath.Join(o.dir, sec.file), []byte(v+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("quickstart: %w", err)
			}
		}
	}
	return sections, nil
}

type probed struct{ summary, yaml string }

func probePostgres(ctx context.Context, o quickstartOptions) (probed, error) {
	users := []string{o.pgUser}
	if o.pgUser == "" {
		users = []string{currentUser(), "postgres"}
	}
	var firstErr error
	for _, u := range users {
		d, err := pgdump.Open(ctx, pgdump.Config{Host: o.pgHost, Port: o.pgPort, User: u, Password: os.Getenv("PGPASSWORD"), SSLMode: "prefer"})
		if err != nil {
			firstErr = cmp(firstErr, err)
			continue
		}
		dbs, err := d.Databases(ctx)
		if err != nil {
			firstErr = cmp(firstErr, err)
			continue
		}
		y := fmt.Sprintf("postgres:\n  host: %s\n  port: %d\n  user: %s\n", o.pgHost, o.pgPort, u)
		if os.Getenv("PGPASSWORD") != "" {
			y += "  password_file: pg.pass\n"
		}
		return probed{fmt.Sprintf("found %s at %s as %s, databases: %s", d.ServerVersion(), o.pgHost, u, strings.Join(dbs, ", ")), y}, nil
	}
	return probed{}, fmt.Errorf("%w\n%13s(run quickstart as a user PostgreSQL lets in, such as sudo -u postgres, or set PGPASSWORD and --pg-user)", firstErr, "")
}

func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func probeRedis(ctx context.Context, o quickstartOptions) (probed, error) {
	v, err := redisdump.ServerVersion(ctx, redisdump.Config{Name: "main", URL: o.redisURL, Password: os.Getenv("REDISCLI_AUTH")})
	if err != nil {
		return probed{}, err
	}
	y := fmt.Sprintf("redis:\n  - name: main\n    url: %s\n", o.redisURL)
	if os.Getenv("REDISCLI_AUTH") != "" {
		y += "    password_file: redis.pass\n"
	}
	return probed{fmt.Sprintf("found %s at %s", v, o.redisURL), y}, nil
}

func probeMySQL(ctx context.Context, o quickstartOptions) (probed, error) {
	u := o.mysqlUsr
	if u == "" {
		u = currentUser()
	}
	c := mysqldump.Config{Host: o.mysqlHost, Port: o.mysqlPort, User: u, Password: os.Getenv("MYSQL_PWD")}
	dbs, err := mysqldump.Databases(ctx, c)
	if err != nil {
		return probed{}, err
	}
	y := fmt.Sprintf("mysql:\n  host: %s\n  port: %s\n  user: %s\n", o.mysqlHost, strconv.Itoa(o.mysqlPort), u)
	if os.Getenv("MYSQL_PWD") != "" {
		y += "  password_file: mysql.pass\n"
	}
	return probed{fmt.Sprintf("found at %s as %s, databases: %s", o.mysqlHost, u, strings.Join(dbs, ", ")), y}, nil
}

func quickstartConfig(store, recipient, signer string, sections []string) string {
	return fmt.Sprintf(`# Written by mbackup quickstart: a trial on this machine. For production see
# configs/mbackup.example.yaml: a B2 bucket, and only a recipient whose
# identity lives on your own computer.
storage:
  type: local
  path: %s
encryption:
  recipients: ["%s"]
  signing_key_file: signing.key   # signs every manifest
  signer: "%s"   # the key restore and verify trust
%s`, store, recipient, signer, strings.Join(sections, ""))
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

func quickstartNext(dir, id string) string {
	return fmt.Sprintf(`
Look at it:    mbackup --config %[1]s/mbackup.yaml list
Read one back: age -d -i %[1]s/identity.txt %[1]s/backups/snapshots/%[2]s/<component>/<name>.zst.age | zstd -d
               (README: "Restore by hand")

For production:
  1. On your own computer, not this server: mbackup keygen -o ~/mbackup-identity.txt
     Keep that identity offline, in two places. The server only gets the printed age1... recipient.
  2. On this server: mbackup keygen --signing -o /etc/mbackup/signing.key (it signs every
     snapshot). Keep the ssh-ed25519 line it prints with your identity: restores trust it.
  3. Create a B2 bucket and an application key restricted to it.
  4. Write /etc/mbackup/mbackup.yaml from configs/mbackup.example.yaml (storage type b2,
     the recipient, signing_key_file and signer, the sources listed above), then: mbackup backup
  5. Delete %[1]s/identity.txt from this server once you are done trying.
`, dir, id)
}
