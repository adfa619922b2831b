// Package testenv starts throwaway PostgreSQL, MariaDB and Redis servers for
// tests, so that the dump and restore code talks to real servers (design
// principle 9) rather than to mocks.
//
// Invariants:
//
//   - It never touches the machine's own services. Every server gets its own
//     data directory under the directory it is given (usually t.TempDir()),
//     listens on a free port on 127.0.0.1 only, keeps its Unix sockets in a
//     private directory and reads no system-wide configuration.
//   - Nothing is left running. The stop function returned by each Launch
//     function (registered with t.Cleanup by each Start function) stops the
//     server, kills its process group if a graceful stop fails, waits until
//     the process has exited and removes the data. Every server runs as a
//     child of the test binary, in its own process group, with a parent-death
//     signal, so it dies with the binary even when cleanup never runs
//     (Ctrl-C, a -timeout panic, SIGKILL); only its files are then left.
//   - Passwords never appear in the argv of a process started here. They
//     reach servers through 0600 files (initdb --pwfile, a Redis config
//     file, SQL on stdin) and clients through the environment (PGPASSWORD,
//     REDISCLI_AUTH) or a 0600 MySQL defaults file.
//   - A missing binary is a test failure naming the install command, never a
//     skip.
//
// Start servers once per test package, from TestMain, with the Launch
// functions, and share them between tests:
//
//	var pg *testenv.Postgres
//
//	func TestMain(m *testing.M) {
//		dir, err := os.MkdirTemp("", "pgdump-test-")
//		if err != nil {
//			log.Fatal(err)
//		}
//		p, stop, err := testenv.LaunchPostgres(dir)
//		if err != nil {
//			os.RemoveAll(dir)
//			log.Fatal(err)
//		}
//		pg = p
//		code := m.Run()
//		stop()
//		os.RemoveAll(dir)
//		os.Exit(code)
//	}
//
// The Start functions (StartPostgres, StartMariaDB, StartRedis) do the same
// for a single test and fail it on error.
//
// Tests run as root in CI. PostgreSQL refuses to run as root, so when the
// effective user is root initdb, pg_ctl and the server run as the postgres OS
// user, on directories chowned to it; the directories above them that are
// under os.TempDir() or $GOTMPDIR (t.TempDir() makes 0700 ones) are given o+x
// so that user can reach them. The postmaster is started directly rather than
// with pg_ctl start, which would detach it from the test binary; it is
// stopped with pg_ctl stop -m immediate. mariadbd runs with --user=root.
//
// Starting a process in its own group with a parent-death signal, waiting
// until it is ready, stopping it, socket directories, running as postgres
// when root and finding binaries are package sandbox's, which the restore
// drill's servers share; testenv adds the TCP ports, passwords and clients
// that tests need.
package testenv
