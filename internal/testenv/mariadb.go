package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"mbackup/internal/sandbox"
)

// MariaDBInstall is the command that installs the MariaDB server and clients
// the tests run.
const MariaDBInstall = "apt-get install -y mariadb-server mariadb-client"

// MariaDB is a throwaway MariaDB server listening on 127.0.0.1:Port and on the
// Unix socket Socket. User has every privilege, with grant option, and logs
// in over TCP with Password.
type MariaDB struct {
	Host     string // always 127.0.0.1
	Port     int
	User     string // "mbackup"
	Password string
	Socket   string
	// DefaultsFile is a 0600 option file with a [client] group holding
	// User, Password, Host, Port and protocol=TCP, for clients run with
	// --defaults-file or --defaults-extra-file (which must come first).
	DefaultsFile string

	base  string   // everything of this server lives here
	admin string   // option file for the OS-root account over the socket
	sock  string   // a short socket directory to remove, if any
	log   string   // the server's error log
	proc  *process // mariadbd
	bin   mariadbBinaries
}

type mariadbBinaries struct{ server, install, client, admin string }

// StartMariaDB starts a server under t.TempDir() and stops it, removing its
// data, when t ends. Prefer one LaunchMariaDB per package in TestMain.
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	m, err := retryPort(launchMariaDB, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.stop(); err != nil {
			t.Error(err)
		}
	})
	return m
}

// LaunchMariaDB starts a server with its files in a new directory under dir
// and returns it with a function that stops it and removes those files. It
// is meant for TestMain; stop reports its failures on stderr.
func LaunchMariaDB(dir string) (*MariaDB, func(), error) {
	m, err := retryPort(launchMariaDB, dir)
	if err != nil {
		return nil, nil, err
	}
	return m, func() {
		if err := m.stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}, nil
}

func launchMariaDB(dir string) (*MariaDB, error) {
	m, err := prepareMariaDB(dir)
	if err != nil {
		return nil, err
	}
	if err := m.boot(); err != nil {
		return nil, err
	}
	return m, nil
}

// boot creates the data directory, starts the server and creates User; on
// failure it cleans up.
func (m *MariaDB) boot() error {
	err := m.install()
	if err == nil {
		err = m.start()
	}
	if err == nil {
		err = m.createUser()
	}
	if err != nil {
		if serr := m.stop(); serr != nil {
			err = fmt.Errorf("%w\n%v", err, serr)
		}
	}
	return err
}

// prepareMariaDB finds the binaries, picks a port and creates the server's
// directories and the administrator's option file.
func prepareMariaDB(dir string) (*MariaDB, error) {
	var bin mariadbBinaries
	for _, b := range []struct {
		path *string
		name string
	}{{&bin.server, "mariadbd"}, {&bin.install, "mariadb-install-db"}, {&bin.client, "mariadb"}, {&bin.admin, "mariadb-admin"}} {
		var err error
		if *b.path, err = (sandbox.Binaries{}).Look(b.name, MariaDBInstall); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	base, err := os.MkdirTemp(dir, "mariadb-")
	if err != nil {
		return nil, fmt.Errorf("testenv: mariadb: %w", err)
	}
	m := &MariaDB{Host: "127.0.0.1", Port: port, User: "mbackup", Password: newPassword(),
		DefaultsFile: filepath.Join(base, "client.cnf"), base: base, bin: bin,
		admin: filepath.Join(base, "admin.cnf"), log: filepath.Join(base, "mariadb.log")}
	sockDir, sock, err := sandbox.SocketDir(base)
	if err != nil {
		os.RemoveAll(base)
		return nil, err
	}
	m.Socket, m.sock = filepath.Join(sockDir, "mariadb.sock"), sock
	if err := m.writeOptionFiles(); err != nil {
		m.stop()
		return nil, err
	}
	return m, nil
}

// writeOptionFiles writes the client's option file (TCP, with the password)
// and the administrator's (the OS user's socket-authenticated account).
func (m *MariaDB) writeOptionFiles() error {
	osUser, err := user.Current()
	if err != nil {
		return fmt.Errorf("testenv: mariadb: %w", err)
	}
	client := fmt.Sprintf("[client]\nuser=%s\npassword=%s\nhost=%s\nport=%d\nprotocol=TCP\n",
		m.User, m.Password, m.Host, m.Port)
	admin := fmt.Sprintf("[client]\nuser=%s\nsocket=%s\nprotocol=SOCKET\n", osUser.Username, m.Socket)
	if err := writeSecret(m.DefaultsFile, client); err != nil {
		return fmt.Errorf("testenv: mariadb: %w", err)
	}
	if err := writeSecret(m.admin, admin); err != nil {
		return fmt.Errorf("testenv: mariadb: %w", err)
	}
	return nil
}

// serverOptions are shared by mariadb-install-db and mariadbd (see
// sandbox.ServerOptions).
func (m *MariaDB) serverOptions() []string { return sandbox.ServerOptions(m.base) }

// install creates the data directory. The OS user that runs it gets a
// socket-authenticated administrator account (root, in CI).
func (m *MariaDB) install() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := os.MkdirAll(filepath.Join(m.base, "tmp"), 0o700); err != nil {
		return fmt.Errorf("testenv: mariadb tmpdir: %w", err)
	}
	args := append(m.serverOptions(), "--auth-root-authentication-method=socket", "--skip-test-db")
	cmd := exec.CommandContext(ctx, m.bin.install, args...)
	cmd.Dir = m.base
	cmd.Env = cleanEnv("MYSQL", "MARIADB")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testenv: mariadb-install-db: %v\n%s", err, out)
	}
	return nil
}

// start runs mariadbd on the port and socket and waits until it answers a
// ping.
func (m *MariaDB) start() error {
	args := append(m.serverOptions(), "--port="+strconv.Itoa(m.Port), "--socket="+m.Socket,
		"--bind-address=127.0.0.1", "--skip-networking=0",
		"--pid-file="+filepath.Join(m.base, "mariadbd.pid"), "--log-error="+m.log)
	cmd := exec.Command(m.bin.server, args...)
	cmd.Dir = m.base
	cmd.Env = cleanEnv("MYSQL", "MARIADB")
	var err error
	if m.proc, err = sandbox.StartProcess(cmd, m.log); err != nil {
		return fmt.Errorf("testenv: start mariadb: %w", err)
	}
	err = waitReady(m.proc.Done(), func(ctx context.Context) error {
		_, err := runClient(ctx, cleanEnv("MYSQL", "MARIADB"), "", m.bin.admin, "--defaults-file="+m.admin, "ping")
		return err
	})
	if err != nil {
		return withLog("mariadb", err, m.log)
	}
	return nil
}

// createUser creates User, with its password sent on stdin, then checks that
// it can log in over TCP.
func (m *MariaDB) createUser() error {
	sql := fmt.Sprintf("CREATE USER '%[1]s'@'%%' IDENTIFIED BY '%[2]s';\n"+
		"GRANT ALL PRIVILEGES ON *.* TO '%[1]s'@'%%' WITH GRANT OPTION;\n", m.User, m.Password)
	if _, err := m.run(context.Background(), m.admin, "", sql); err != nil {
		return fmt.Errorf("testenv: mariadb: create user: %w", err)
	}
	if _, err := m.query(context.Background(), "", "SELECT 1"); err != nil {
		return withLog("mariadb", err, m.log)
	}
	return nil
}

// stop shuts the server down, killing it if needed, and removes its files.
func (m *MariaDB) stop() error {
	var errs []error
	if m.proc != nil {
		errs = append(errs, m.proc.Stop(syscall.SIGTERM))
	}
	if m.sock != "" {
		errs = append(errs, os.RemoveAll(m.sock))
	}
	errs = append(errs, os.RemoveAll(m.base))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("testenv: stop mariadb on port %d: %w", m.Port, err)
	}
	return nil
}

// Exec runs sql, which may hold several statements, as User over TCP, in
// database db unless db is empty, and fails t on error.
func (m *MariaDB) Exec(t testing.TB, db, sql string) {
	t.Helper()
	if _, err := m.run(context.Background(), m.DefaultsFile, db, sql); err != nil {
		t.Fatalf("testenv: mariadb exec in %q: %v", db, err)
	}
}

// Query runs sql as Exec does and returns the client's batch output without
// column names (tab-separated rows) and without its final newline.
func (m *MariaDB) Query(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := m.query(context.Background(), db, sql)
	if err != nil {
		t.Fatalf("testenv: mariadb query in %q: %v", db, err)
	}
	return out
}

func (m *MariaDB) query(ctx context.Context, db, sql string) (string, error) {
	out, err := m.run(ctx, m.DefaultsFile, db, sql, "--skip-column-names")
	return strings.TrimSuffix(out, "\n"), err
}

// run feeds sql to the mariadb client configured by the option file opts.
func (m *MariaDB) run(ctx context.Context, opts, db, sql string, flags ...string) (string, error) {
	args := append([]string{"--defaults-file=" + opts, "--batch"}, flags...)
	if db != "" {
		args = append(args, "--database="+db)
	}
	return runClient(ctx, cleanEnv("MYSQL", "MARIADB"), sql, m.bin.client, args...)
}
