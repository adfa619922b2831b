package sandbox

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"syscall"
)

// MariaDBInstall is the command that installs mariadbd and
// mariadb-install-db.
const MariaDBInstall = "apt-get install -y mariadb-server"

// MariaDB is a throwaway MariaDB server on the Unix socket Socket only
// (--skip-networking). User, the OS user running this process, is an
// administrator authenticated by the socket (unix_socket): no password.
type MariaDB struct {
	Socket string
	User   string

	base string
	log  string
	sock string // a short socket directory to remove, if any
	proc *Process

	stopper
}

// StartMariaDB creates a data directory in a new directory under dir with
// mariadb-install-db, starts mariadbd on it and waits until it answers. On
// error nothing of it is left.
func StartMariaDB(ctx context.Context, dir string, bin Binaries) (*MariaDB, error) {
	server, err := bin.Look("mariadbd", MariaDBInstall)
	if err != nil {
		return nil, err
	}
	install, err := bin.Look("mariadb-install-db", MariaDBInstall)
	if err != nil {
		return nil, err
	}
	osUser, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("sandbox: mariadb: %w", err)
	}
	base, err := os.MkdirTemp(dir, "mariadb-")
	if err != nil {
		return nil, fmt.Errorf("sandbox: mariadb: %w", err)
	}
	m := &MariaDB{User: osUser.Username, base: base, log: filepath.Join(base, "mariadb.log")}
	if err := m.boot(ctx, install, server); err != nil {
		if serr := m.Stop(); serr != nil {
			err = fmt.Errorf("%w\n%v", err, serr)
		}
		return nil, err
	}
	return m, nil
}

func (m *MariaDB) boot(ctx context.Context, install, server string) error {
	sockDir, sock, err := SocketDir(m.base)
	if err != nil {
		return err
	}
	m.Socket, m.sock = filepath.Join(sockDir, "mariadb.sock"), sock
	if err := os.MkdirAll(filepath.Join(m.base, "tmp"), 0o700); err != nil {
		return fmt.Errorf("sandbox: mariadb: %w", err)
	}
	ictx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ictx, install, append(ServerOptions(m.base),
		"--auth-root-authentication-method=socket", "--skip-test-db")...)
	cmd.Dir, cmd.Env = m.base, CleanEnv("MYSQL", "MARIADB")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sandbox: mariadb-install-db: %v\n%s", err, out)
	}
	cmd = exec.Command(server, append(ServerOptions(m.base), "--skip-networking", "--socket="+m.Socket,
		"--pid-file="+filepath.Join(m.base, "mariadbd.pid"), "--log-error="+m.log)...)
	cmd.Dir, cmd.Env = m.base, CleanEnv("MYSQL", "MARIADB")
	if m.proc, err = StartProcess(cmd, m.log); err != nil {
		return fmt.Errorf("sandbox: start mariadb: %w", err)
	}
	if err := WaitReady(ctx, m.proc.Done(), ReadyTimeout, m.greets); err != nil {
		return fmt.Errorf("sandbox: start mariadb: %w\n--- tail of its log ---\n%s", err, LogTail(m.log))
	}
	return nil
}

// ServerOptions are the options of mariadb-install-db and mariadbd for a
// server whose files live in base: no system option files, a private
// tmpdir (servers sharing /tmp have collided on their temporary tables), a
// small non-durable InnoDB, and --user=root only when run by root.
func ServerOptions(base string) []string {
	opts := []string{"--no-defaults", "--datadir=" + filepath.Join(base, "data"),
		"--tmpdir=" + filepath.Join(base, "tmp"),
		"--skip-name-resolve", "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M",
		"--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0"}
	if os.Geteuid() == 0 {
		opts = append(opts, "--user=root")
	}
	return opts
}

// greets connects to the socket and reads the server's handshake: protocol
// version 10 in the first packet means mariadbd serves connections.
func (m *MariaDB) greets(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", m.Socket)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var head [5]byte // 3-byte length, sequence, then the protocol version
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return err
	}
	if head[4] != 10 {
		return fmt.Errorf("the server answered packet type %#x, not a handshake", head[4])
	}
	return nil
}

// Stop shuts the server down (SIGTERM, then SIGKILL of its process group
// after StopTimeout), waits for it and removes its directory. It may be
// called more than once.
func (m *MariaDB) Stop() error {
	return m.stopper.stop("mariadb", m.proc, syscall.SIGTERM, m.sock, m.base)
}
