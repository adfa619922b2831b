package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// Postgres is a throwaway PostgreSQL server on a Unix socket only. Its
// superuser User logs in over the socket in SocketDir without a password.
type Postgres struct {
	SocketDir string // PGHOST
	Port      int    // names the socket (.s.PGSQL.<Port>); nothing listens on TCP
	User      string // the superuser, "postgres"
	Major     int    // the server's major version
	BinDir    string // the server's bin directory, with the matching psql and pg_restore

	base string              // everything of this server lives here
	data string              // the data directory
	log  string              // the server log
	sock string              // a short socket directory to remove, if any
	cred *syscall.Credential // the postgres OS user when run as root
	proc *Process

	stopper
}

// StartPostgres creates a cluster in a new directory under dir with the
// PostgreSQL that bin finds for want (see Binaries.Postgres), starts it and
// waits until it answers. On error nothing of it is left.
func StartPostgres(ctx context.Context, dir string, bin Binaries, want int) (*Postgres, error) {
	binDir, major, err := bin.Postgres(want)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := (Binaries{Dirs: []string{binDir}}).Look(name, PostgresInstall(major)); err != nil {
			return nil, err
		}
	}
	cred, err := PostgresCredential()
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp(dir, "pg-")
	if err != nil {
		return nil, fmt.Errorf("sandbox: postgres: %w", err)
	}
	p := &Postgres{Port: 5432, User: "postgres", Major: major, BinDir: binDir, base: base,
		data: filepath.Join(base, "data"), log: filepath.Join(base, "postgres.log"), cred: cred}
	err = p.boot(ctx)
	if err != nil {
		if serr := p.Stop(); serr != nil {
			err = fmt.Errorf("%w\n%v", err, serr)
		}
		return nil, err
	}
	return p, nil
}

func (p *Postgres) boot(ctx context.Context) error {
	var err error
	if p.SocketDir, p.sock, err = SocketDir(p.base); err != nil {
		return err
	}
	if p.cred != nil {
		for _, d := range []string{p.base, p.SocketDir} {
			if err := os.Chown(d, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
				return fmt.Errorf("sandbox: postgres: %w", err)
			}
			if err := Traversable(filepath.Dir(d), p.cred); err != nil {
				return err
			}
		}
	}
	if err := p.initdb(ctx); err != nil {
		return err
	}
	return p.start(ctx)
}

// command is a server-side program run as the postgres OS user (when root)
// from the server's own directory.
func (p *Postgres) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, name), args...)
	cmd.Dir = p.base
	cmd.Env = CleanEnv("PG")
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

// initdb creates the cluster, trusting the socket and rejecting TCP, and
// appends the drill's settings.
func (p *Postgres) initdb(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	out, err := p.command(ctx, "initdb", "-D", p.data, "-U", p.User, "--auth-local=trust", "--auth-host=reject",
		"--no-locale", "-E", "UTF8", "--no-sync", "--no-instructions").CombinedOutput()
	if err != nil {
		return fmt.Errorf("sandbox: initdb (PostgreSQL %d): %v\n%s", p.Major, err, out)
	}
	conf := fmt.Sprintf(`
# mbackup sandbox: private, thrown away
listen_addresses = ''
port = %d
unix_socket_directories = '%s'
unix_socket_permissions = 0700
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 1GB
max_connections = 20
logging_collector = off
# No JIT: the row counts gain nothing from it, and it needs memory both
# writable and executable, which the systemd unit forbids
# (MemoryDenyWriteExecute).
jit = off
`, p.Port, strings.ReplaceAll(p.SocketDir, "'", "''"))
	f, err := os.OpenFile(filepath.Join(p.data, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("sandbox: postgres: %w", err)
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return fmt.Errorf("sandbox: postgres: %w", err)
	}
	return f.Close()
}

// start runs the postmaster as a child of this process (pg_ctl start would
// detach it) and waits until a login over the socket works.
func (p *Postgres) start(ctx context.Context) error {
	var err error
	if p.proc, err = StartProcess(p.command(context.Background(), "postgres", "-D", p.data), p.log); err != nil {
		return fmt.Errorf("sandbox: start postgres: %w", err)
	}
	err = WaitReady(ctx, p.proc.Done(), ReadyTimeout, func(ctx context.Context) error {
		conn, err := p.Connect(ctx, "postgres")
		if err == nil {
			conn.Close(ctx)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sandbox: start postgres %d: %w\n--- tail of its log ---\n%s", p.Major, err, LogTail(p.log))
	}
	return nil
}

// Connect opens a connection to database db as User over the socket.
func (p *Postgres) Connect(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, err
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Database = p.SocketDir, uint16(p.Port), p.User, db
	return pgx.ConnectConfig(ctx, cfg)
}

// Stop shuts the server down (fast shutdown, then SIGKILL of its process
// group after StopTimeout), waits for it and removes its directory. It may
// be called more than once.
func (p *Postgres) Stop() error {
	return p.stopper.stop(fmt.Sprintf("postgres %d", p.Major), p.proc, syscall.SIGINT, p.sock, p.base)
}

// String names the server for messages.
func (p *Postgres) String() string {
	return "PostgreSQL " + strconv.Itoa(p.Major) + " from " + p.BinDir
}
