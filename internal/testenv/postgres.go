package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"mbackup/internal/sandbox"
)

// PostgresInstall is the command that installs the PostgreSQL server and
// clients the tests run.
const PostgresInstall = "apt-get install -y postgresql"

// Postgres is a throwaway PostgreSQL server listening on 127.0.0.1:Port. Its
// superuser User logs in over TCP with Password (scram-sha-256) and without a
// password over the Unix socket in SocketDir.
type Postgres struct {
	Host      string // always 127.0.0.1
	Port      int
	User      string // the superuser, "postgres"
	Password  string
	SocketDir string // PGHOST for socket connections, trusted without a password
	Major     int    // server major version, such as 15
	BinDir    string // the server's bin directory, with the matching psql and pg_dump

	base string              // everything of this server lives here
	data string              // the data directory
	proc *process            // the postmaster
	cred *syscall.Credential // the postgres OS user when we run as root
	sock string              // a short socket directory to remove, if any
	log  string              // the server log
}

// StartPostgres starts a server under t.TempDir() and stops it, removing its
// data, when t ends. Prefer one LaunchPostgres per package in TestMain.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	p, err := retryPort(launchPostgres, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// LaunchPostgres starts a server with its files in a new directory under dir
// and returns it with a function that stops it and removes those files. It
// is meant for TestMain; stop reports its failures on stderr.
func LaunchPostgres(dir string) (*Postgres, func(), error) {
	p, err := retryPort(launchPostgres, dir)
	if err != nil {
		return nil, nil, err
	}
	return p, func() {
		if err := p.stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}, nil
}

func launchPostgres(dir string) (*Postgres, error) {
	p, err := preparePostgres(dir)
	if err != nil {
		return nil, err
	}
	if err := p.boot(); err != nil {
		return nil, err
	}
	return p, nil
}

// boot creates the cluster and starts the server; on failure it cleans up.
func (p *Postgres) boot() error {
	err := p.initdb()
	if err == nil {
		err = p.start()
	}
	if err != nil {
		if serr := p.stop(); serr != nil {
			err = fmt.Errorf("%w\n%v", err, serr)
		}
	}
	return err
}

// preparePostgres finds the binaries and creates the directories, owned by
// the postgres OS user when we run as root.
func preparePostgres(dir string) (*Postgres, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := sandbox.PostgresCredential()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp(dir, "pg-")
	if err != nil {
		return nil, fmt.Errorf("testenv: postgres: %w", err)
	}
	p := &Postgres{Host: "127.0.0.1", Port: port, User: "postgres", Password: newPassword(),
		BinDir: bin, base: base, data: filepath.Join(base, "data"), cred: cred,
		log: filepath.Join(base, "postgres.log")}
	if p.SocketDir, p.sock, err = sandbox.SocketDir(base); err != nil {
		os.RemoveAll(base)
		return nil, err
	}
	if err := p.own(); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// postgresBinDir returns the newest /usr/lib/postgresql/<major>/bin holding
// initdb, else the directory of the initdb in PATH.
func postgresBinDir() (string, error) {
	if dir, _, err := (sandbox.Binaries{}).Postgres(0); err == nil {
		return dir, nil
	}
	initdb, err := sandbox.Binaries{}.Look("initdb", PostgresInstall)
	if err != nil {
		return "", err
	}
	return filepath.Dir(initdb), nil
}

// own hands the server's directories to the postgres OS user and makes sure
// that user can reach them.
func (p *Postgres) own() error {
	if p.cred == nil {
		return nil
	}
	for _, d := range []string{p.base, p.SocketDir} {
		if err := os.Chown(d, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return fmt.Errorf("testenv: postgres: %w", err)
		}
		if err := sandbox.Traversable(filepath.Dir(d), p.cred); err != nil {
			return err
		}
	}
	return nil
}

// pgCommand returns a server-side command (initdb, pg_ctl) run as the
// postgres OS user from the server's own directory.
func (p *Postgres) pgCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, name), args...)
	cmd.Dir = p.base
	cmd.Env = cleanEnv("PG")
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

// initdb creates the cluster: scram-sha-256 over TCP, trust over the socket,
// the superuser's password passed in a 0600 file, settings for speed.
func (p *Postgres) initdb() error {
	pwfile := filepath.Join(p.base, "pwfile")
	if err := writeSecret(pwfile, p.Password+"\n"); err != nil {
		return fmt.Errorf("testenv: postgres: %w", err)
	}
	defer os.Remove(pwfile)
	if p.cred != nil {
		if err := os.Chown(pwfile, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return fmt.Errorf("testenv: postgres: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	out, err := p.pgCommand(ctx, "initdb", "-D", p.data, "-U", p.User, "--pwfile="+pwfile,
		"--auth-host=scram-sha-256", "--auth-local=trust", "--no-locale", "-E", "UTF8",
		"--no-sync", "--no-instructions").CombinedOutput()
	if err != nil {
		return fmt.Errorf("testenv: initdb: %v\n%s", err, out)
	}
	version, err := os.ReadFile(filepath.Join(p.data, "PG_VERSION"))
	if err != nil {
		return fmt.Errorf("testenv: initdb: %w", err)
	}
	p.Major, _ = strconv.Atoi(strings.TrimSpace(string(version)))
	return p.configure()
}

// configure appends the settings that keep the server private and fast.
// Durability is not needed for a throwaway server.
func (p *Postgres) configure() error {
	conf := fmt.Sprintf(`
# testenv
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 40
shared_buffers = 32MB
max_wal_senders = 2
logging_collector = off
`, p.Port, p.SocketDir)
	f, err := os.OpenFile(filepath.Join(p.data, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("testenv: postgres: %w", err)
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return fmt.Errorf("testenv: postgres: %w", err)
	}
	return f.Close()
}

// start runs the postmaster as a child of this process, so that it dies
// with the test binary (pg_ctl start would detach it into its own session,
// out of reach of Ctrl-C), and waits until a password login over TCP works.
func (p *Postgres) start() error {
	cmd := p.pgCommand(context.Background(), "postgres", "-D", p.data)
	var err error
	if p.proc, err = sandbox.StartProcess(cmd, p.log); err != nil {
		return fmt.Errorf("testenv: start postgres: %w", err)
	}
	err = waitReady(p.proc.Done(), func(ctx context.Context) error {
		_, err := p.query(ctx, "postgres", "SELECT 1")
		return err
	})
	if err != nil {
		return withLog("postgres", err, p.log)
	}
	return nil
}

// stop runs pg_ctl stop -m immediate, kills the postmaster if it is still
// there, and removes the server's files. The postmaster leads its own
// process group; its children exit on their own once it is gone.
func (p *Postgres) stop() error {
	var errs []error
	if p.proc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sandbox.StopTimeout)
		out, err := p.pgCommand(ctx, "pg_ctl", "stop", "-D", p.data, "-m", "immediate", "-w").CombinedOutput()
		cancel()
		if perr := p.proc.Stop(syscall.SIGQUIT); perr != nil {
			errs = append(errs, fmt.Errorf("pg_ctl stop: %v: %s", err, strings.TrimSpace(string(out))), perr)
		}
	}
	if p.sock != "" {
		errs = append(errs, os.RemoveAll(p.sock))
	}
	errs = append(errs, os.RemoveAll(p.base))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("testenv: stop postgres on port %d: %w", p.Port, err)
	}
	return nil
}

// URL returns a connection URL for database db over TCP, with the password.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", p.User, p.Password, p.Host, p.Port, db)
}

// Env returns PGHOST, PGPORT, PGUSER and PGPASSWORD for a client process
// that should reach this server over TCP, to append to its environment.
func (p *Postgres) Env() []string {
	return []string{
		"PGHOST=" + p.Host,
		"PGPORT=" + strconv.Itoa(p.Port),
		"PGUSER=" + p.User,
		"PGPASSWORD=" + p.Password,
	}
}

// Exec runs sql, which may hold several statements, in database db through
// psql over TCP, stopping at the first error, and fails t on error.
func (p *Postgres) Exec(t testing.TB, db, sql string) {
	t.Helper()
	if _, err := p.psql(context.Background(), db, sql, "-q"); err != nil {
		t.Fatalf("testenv: postgres exec in %s: %v", db, err)
	}
}

// Query runs sql in database db and returns psql's unaligned, tuples-only
// (-At) output without its final newline; it fails t on error.
func (p *Postgres) Query(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := p.query(context.Background(), db, sql)
	if err != nil {
		t.Fatalf("testenv: postgres query in %s: %v", db, err)
	}
	return out
}

func (p *Postgres) query(ctx context.Context, db, sql string) (string, error) {
	out, err := p.psql(ctx, db, sql, "-A", "-t")
	return strings.TrimSuffix(out, "\n"), err
}

// psql runs the server's own psql with sql on stdin.
func (p *Postgres) psql(ctx context.Context, db, sql string, flags ...string) (string, error) {
	args := append([]string{"-X", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", "-"}, flags...)
	return runClient(ctx, append(cleanEnv("PG"), p.Env()...), sql, filepath.Join(p.BinDir, "psql"), args...)
}
