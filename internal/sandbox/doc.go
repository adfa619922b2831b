// Package sandbox starts throwaway PostgreSQL, MariaDB and Redis servers
// from the binaries installed on this machine, for a restore drill (and,
// through package testenv, for tests).
//
// Invariants:
//
//   - A server never touches the machine's own services. Each one gets its
//     own directory under the directory it is given, reads no system-wide
//     configuration (initdb's defaults plus ours, mariadbd --no-defaults, a
//     redis.conf of our own) and listens on a Unix socket in its own
//     directory only: PostgreSQL with no listen_addresses, MariaDB with
//     --skip-networking, Redis with port 0. PostgreSQL trusts the socket
//     only (host connections are rejected); MariaDB authenticates the OS
//     user through the socket (unix_socket); Redis's socket is 0700.
//   - Nothing is left running. Every server runs as a child of this
//     process, in its own process group, with a parent-death signal
//     (SIGKILL), so it dies with this process even when Stop never runs.
//     Stop asks the server to stop, waits up to StopTimeout, then kills its
//     whole process group, waits until it has been reaped and removes its
//     directory. Stop may be called more than once; it returns the first
//     result. A server that fails to start is stopped and removed before
//     the error is returned.
//   - Durability is off (fsync = off, no save points, appendonly no): what
//     a sandbox holds is thrown away.
//   - PostgreSQL refuses to run as root: when the effective user is root,
//     initdb and the server run as the postgres OS user on directories
//     chowned to it, and the directories above them must let that user
//     through (see PrivateDir and Traversable). MariaDB runs with
//     --user=root only when run by root; Redis runs as the caller.
//   - A missing binary is an error naming the Debian package that installs
//     it (postgresql-15 for the major wanted, mariadb-server,
//     redis-server).
//   - Redis loads the RDB it is given at start: a server that exits or does
//     not log that it loaded the file is an error quoting the tail of its
//     log.
package sandbox
