package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mbackup/internal/b2test"
	"mbackup/internal/testenv"
)

// slackSink is a Slack incoming webhook that keeps what it was sent.
type slackSink struct {
	mu     sync.Mutex
	bodies []string
	srv    *httptest.Server
}

func newSlackSink(t *testing.T) *slackSink {
	s := &slackSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// all returns every body posted so far.
func (s *slackSink) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

func (s *slackSink) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bodies) == 0 {
		return ""
	}
	return s.bodies[len(s.bodies)-1]
}

// signalWhenSeen sends sig to this process's child running program (a
// dump, not a --version probe) once it has run for a moment, until stop is
// closed; it reports whether it did.
func signalWhenSeen(stop <-chan struct{}, program string, sig syscall.Signal) bool {
	for {
		select {
		case <-stop:
			return false
		default:
		}
		if pid := childPID(program); pid != 0 {
			time.Sleep(30 * time.Millisecond)
			syscall.Kill(pid, sig)
			return true
		}
		time.Sleep(time.Millisecond)
	}
}

// childPID is the pid of a child of this process running program, or 0.
func childPID(program string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if !strings.Contains(string(b), "/"+program+"\x00") && !strings.HasPrefix(string(b), program+"\x00") ||
			strings.Contains(string(b), "\x00--version\x00") {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err == nil && testenv.ParentPID(pid) == os.Getpid() {
			return pid
		}
	}
	return 0
}

// faultEnv is what a row of the fault matrix works with.
type faultEnv struct {
	cfg   string
	b2    *b2test.Server
	redis *testenv.Redis // a Redis of the row's own
	dir   string
}

// edit replaces old by new in the row's config.
func (f *faultEnv) edit(t *testing.T, old, new string) {
	t.Helper()
	text, _ := os.ReadFile(f.cfg)
	if !bytes.Contains(text, []byte(old)) {
		t.Fatalf("the config holds no %q", old)
	}
	os.WriteFile(f.cfg, bytes.Replace(text, []byte(old), []byte(new), 1), 0o600)
}

// The watchdogs of the fault matrix. A row that makes a stall happen sets
// the short one for its faulty run only: the other rows' dumps and calls
// are real work, which a busy machine may hold up for seconds before a
// first byte, so they run under timeouts no loaded machine reaches.
const (
	relaxedTimeout = "60s"
	shortDumpStall = "2s" // SIGSTOP of pg_dump: "wrote nothing for 2s"
	shortB2Stall   = "3s" // the blackholed upload host
)

// timeouts sets the config's watchdog line key (as the config spells it,
// indentation included) from one value to another.
func (f *faultEnv) timeouts(t *testing.T, from, to string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		f.edit(t, k+": "+from+"\n", k+": "+to+"\n")
	}
}

// faultConfig writes a config backing up database fault_db and a Redis of
// its own into a b2 store on b2test, posting to slack, with relaxed
// watchdogs.
func faultConfig(t *testing.T, slack *slackSink) *faultEnv {
	t.Helper()
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	r := testenv.StartRedis(t)
	r.Do(t, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	r.Do(t, "DEBUG", "POPULATE", "20000", "key", "100")
	dir, cfg := setup(t, "  databases: [fault_db]\n  globals: false\n")
	os.WriteFile(filepath.Join(dir, "redis.pass"), []byte(r.Password+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "b2.key"), []byte(srv.AppKey+"\n"), 0o600)
	f := &faultEnv{cfg: cfg, b2: srv, redis: r, dir: dir}
	f.edit(t, "storage:\n  type: local\n  path: "+filepath.Join(dir, "store")+"\n", fmt.Sprintf(`storage:
  type: b2
  endpoint: %[1]s
  bucket: backups
  key_id: %[2]s
  application_key_file: b2.key
  chunk_size: 5MB
  call_timeout: %[4]s
  stall_timeout: %[4]s
notify:
  slack:
    webhook_url: %[3]s/hook
dump_stall_timeout: %[4]s
`, srv.URL, srv.KeyID, slack.srv.URL, relaxedTimeout))
	f.edit(t, "url: redis://"+redis.Addr, "url: redis://"+r.Addr)
	f.edit(t, "mysql:\n", "mysql:\n  databases: [fault_blog]\n")
	return f
}

// TestFaultMatrix makes each fault happen for real and checks: the exit
// code, that no committed snapshot references a bad artifact (verify
// passes), that Slack names the cause, that nothing is left running, and
// that the next run succeeds.
func TestFaultMatrix(t *testing.T) {
	// fault_db is what most rows back up: 6 MiB of incompressible text,
	// enough for a pg_dump that is still running when a row signals it.
	// Only the b2_finish_large_file row needs a dump beyond the 5 MB
	// chunk once compressed: it backs up fault_big (18 MiB, 9 MiB stored).
	// Every row takes three runs (the faulty one, verify, the next one),
	// so the size of the common case is most of the test's time.
	pg.Exec(t, "postgres", "DROP DATABASE IF EXISTS fault_db; CREATE DATABASE fault_db")
	pg.Exec(t, "fault_db", "CREATE TABLE t AS SELECT g, md5(random()::text) || md5(random()::text) AS h FROM generate_series(1, 80000) g")
	pg.Exec(t, "postgres", "DROP DATABASE IF EXISTS fault_big; CREATE DATABASE fault_big")
	pg.Exec(t, "fault_big", "CREATE TABLE t AS SELECT g, md5(random()::text) || md5(random()::text) AS h FROM generate_series(1, 250000) g")
	maria.Exec(t, "", "DROP DATABASE IF EXISTS fault_blog; CREATE DATABASE fault_blog")
	maria.Exec(t, "fault_blog", "CREATE TABLE posts (id int PRIMARY KEY); INSERT INTO posts VALUES (1)")
	rows := []struct {
		name   string
		setup  func(t *testing.T, f *faultEnv) // before the run
		during func(stop <-chan struct{}, f *faultEnv)
		undo   func(t *testing.T, f *faultEnv) // before the next run
		code   int
		slack  []string // in the Slack message of the faulty run
	}{{
		name:   "pg_dump SIGKILL",
		during: func(stop <-chan struct{}, f *faultEnv) { signalWhenSeen(stop, "pg_dump", syscall.SIGKILL) },
		code:   exitPartial, slack: []string{"postgres/fault_db", "killed"},
	}, {
		name: "pg_dump SIGSTOP: the stall watchdog fires",
		setup: func(t *testing.T, f *faultEnv) {
			f.timeouts(t, relaxedTimeout, shortDumpStall, "\ndump_stall_timeout")
		},
		during: func(stop <-chan struct{}, f *faultEnv) { signalWhenSeen(stop, "pg_dump", syscall.SIGSTOP) },
		undo: func(t *testing.T, f *faultEnv) {
			f.timeouts(t, shortDumpStall, relaxedTimeout, "\ndump_stall_timeout")
		},
		code: exitPartial, slack: []string{"postgres/fault_db", "stalled", "wrote nothing for " + shortDumpStall},
	}, {
		name: "Redis closes the connection mid-RDB",
		setup: func(t *testing.T, f *faultEnv) {
			f.redis.Do(t, "CONFIG", "SET", "rdb-key-save-delay", "200") // 20000 keys: 4 s of transfer
		},
		during: func(stop <-chan struct{}, f *faultEnv) {
			for childPID("redis-cli") == 0 {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
			time.Sleep(300 * time.Millisecond)
			exec.Command("redis-cli", "-u", "redis://"+f.redis.Addr, "-a", f.redis.Password, "--no-auth-warning", "CLIENT", "KILL", "TYPE", "replica").Run()
		},
		undo:  func(t *testing.T, f *faultEnv) { f.redis.Do(t, "CONFIG", "SET", "rdb-key-save-delay", "0") },
		code:  exitPartial,
		slack: []string{"redis/main"},
	}, {
		name: "MySQL access denied",
		setup: func(t *testing.T, f *faultEnv) {
			os.WriteFile(filepath.Join(f.dir, "maria.pass"), []byte("wrong\n"), 0o600)
		},
		undo: func(t *testing.T, f *faultEnv) {
			os.WriteFile(filepath.Join(f.dir, "maria.pass"), []byte(maria.Password+"\n"), 0o600)
		},
		code: exitPartial, slack: []string{"mysql/", "Access denied"},
	}, {
		name: "B2 authorization expires mid-run: re-authorized",
		during: func(stop <-chan struct{}, f *faultEnv) {
			for childPID("pg_dump") == 0 {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
			f.b2.ExpireTokens()
		},
		code: exitOK, slack: []string{"success"},
	}, {
		name: "B2 503 storm on b2_finish_large_file",
		setup: func(t *testing.T, f *faultEnv) {
			f.edit(t, "databases: [fault_db]", "databases: [fault_big]") // a large file: more than one chunk
			f.b2.Inject("b2_finish_large_file", b2test.Fault{Status: 503})
		},
		undo: func(t *testing.T, f *faultEnv) { f.b2.ClearFaults() },
		code: exitPartial, slack: []string{"postgres/fault_big"},
	}, {
		name: "upload host blackholed",
		setup: func(t *testing.T, f *faultEnv) {
			f.timeouts(t, relaxedTimeout, shortB2Stall, "  call_timeout", "  stall_timeout")
			f.b2.Inject("b2_upload_file", b2test.Fault{Hang: true})
			f.b2.Inject("b2_upload_part", b2test.Fault{Hang: true})
		},
		undo: func(t *testing.T, f *faultEnv) {
			f.b2.ClearFaults()
			f.timeouts(t, shortB2Stall, relaxedTimeout, "  call_timeout", "  stall_timeout")
		},
		code: exitError, slack: []string{"failure", "stalled"},
	}, {
		name:   "SIGTERM mid-upload",
		during: nil, // see below: the run's context is cancelled
		code:   exitInterrupted, slack: []string{"failure"},
	}}
	slack := newSlackSink(t)
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			f := faultConfig(t, slack)
			if row.setup != nil {
				row.setup(t, f)
			}
			goroutines := clientGoroutines()
			ctx, cancel := context.WithCancel(context.Background())
			stop := make(chan struct{})
			var wg sync.WaitGroup
			switch {
			case row.during != nil:
				wg.Go(func() { row.during(stop, f) })
			case row.code == exitInterrupted:
				wg.Go(func() {
					if signalWhenSeen(stop, "pg_dump", 0) {
						cancel() // what main does on SIGTERM
					}
				})
			}
			var out, errb bytes.Buffer
			code := run(ctx, []string{"--config", f.cfg, "backup"}, nil, &out, &errb)
			close(stop)
			wg.Wait()
			cancel()
			t.Logf("exit %d\n%s%s", code, out.String(), lastLines(errb.String(), 6))
			if code != row.code {
				t.Errorf("exit %d, want %d", code, row.code)
			}
			msg := slack.last()
			for _, want := range row.slack {
				if !strings.Contains(msg, want) {
					t.Errorf("the Slack message lacks %q:\n%s", want, msg)
				}
			}
			checkNothingLeft(t, goroutines)
			if row.undo != nil {
				row.undo(t, f)
			}
			if len(committed(t, f.cfg)) > 0 {
				if code, out, errOut := mbackup(t, "--config", f.cfg, "verify", "--all"); code != exitOK {
					t.Errorf("a committed snapshot does not verify (exit %d):\n%s%s", code, out, errOut)
				}
			}
			if code, out, errOut := mbackup(t, "--config", f.cfg, "backup"); code != exitOK {
				t.Errorf("the next run exited %d:\n%s%s", code, out, lastLines(errOut, 6))
			}
		})
	}
}

// TestFaultDiskFull: a local store on a full file system fails the
// artifacts that do not fit, leaves no partial file, and the next run on a
// file system with room succeeds.
func TestFaultDiskFull(t *testing.T) {
	pg.Exec(t, "postgres", "DROP DATABASE IF EXISTS fault_full; CREATE DATABASE fault_full")
	// 4 MiB of incompressible text, 2 MiB stored: twice what the 1 MiB
	// file system holds, half the dump it used to take.
	pg.Exec(t, "fault_full", "CREATE TABLE t AS SELECT g, md5(random()::text) AS h FROM generate_series(1, 100000) g")
	dir, cfg := setup(t, "  databases: [fault_full]\n  globals: false\n")
	store := filepath.Join(dir, "store")
	os.MkdirAll(store, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", store).CombinedOutput(); err != nil {
		t.Fatalf("mount a 1 MiB tmpfs (the test needs root): %v %s", err, out)
	}
	defer exec.Command("umount", store).Run()
	goroutines := clientGoroutines()
	code, out, errOut := mbackup(t, "--config", cfg, "backup", "--only", "postgres")
	t.Logf("exit %d\n%s%s", code, out, lastLines(errOut, 4))
	if code != exitError || !strings.Contains(out+errOut, "no space left on device") {
		t.Errorf("backup onto a full disk exited %d", code)
	}
	var files []string
	filepath.Walk(store, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Name() != ".mbackup-lock" && fi.Name() != ".mbackup-readers" { // not the lock files
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Errorf("files left on the full disk: %v", files)
	}
	checkNothingLeft(t, goroutines)
	exec.Command("umount", store).Run()
	if code, out, errOut := mbackup(t, "--config", cfg, "backup", "--only", "postgres"); code != exitOK {
		t.Errorf("the next run with room exited %d:\n%s%s", code, out, errOut)
	}
}

// checkNothingLeft fails when a producer still runs or goroutines leaked.
func checkNothingLeft(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if childPID("pg_dump") == 0 && childPID("redis-cli") == 0 && childPID("mariadb-dump") == 0 && clientGoroutines() <= before+1 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	t.Errorf("left behind: pg_dump %d, redis-cli %d, mariadb-dump %d, %d goroutines (were %d)\n%s",
		childPID("pg_dump"), childPID("redis-cli"), childPID("mariadb-dump"), clientGoroutines(), before, buf[:runtime.Stack(buf, true)])
}

// clientGoroutines counts the goroutines of this process that are not the
// test servers' (b2test holds a hung request until it closes).
func clientGoroutines() int {
	buf := make([]byte, 4<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !strings.Contains(g, "net/http.(*conn).serve") && !strings.Contains(g, "httptest.(*Server)") {
			n++
		}
	}
	return n
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}
