package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/lock"
	"mbackup/internal/testenv"
)

// syncBuffer is a bytes.Buffer safe for the daemon's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemonRun is a daemon running in this process.
type daemonRun struct {
	cancel context.CancelFunc
	log    *syncBuffer
	done   chan int
}

// startDaemon runs "mbackup daemon"; cancelling it is what SIGTERM does
// (main turns SIGTERM into a cancelled context).
func startDaemon(t *testing.T, cfg string) *daemonRun {
	t.Helper()
	ownMetricsPort(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemonRun{cancel: cancel, log: &syncBuffer{}, done: make(chan int, 1)}
	go func() { d.done <- run(ctx, []string{"--config", cfg, "daemon"}, nil, d.log, d.log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
		case <-time.After(time.Minute):
			t.Error("the daemon did not stop")
		}
		checkDaemonLog(t, d.log.String())
	})
	return d
}

// ownMetricsPort gives a config without a metrics section one on a free
// port: the default 127.0.0.1:9787 may be held by a daemon of another test
// or of another suite running beside this one.
func ownMetricsPort(t *testing.T, cfg string) {
	t.Helper()
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(?m)^metrics:`).Match(text) {
		return
	}
	if len(text) > 0 && text[len(text)-1] != '\n' {
		text = append(text, '\n')
	}
	text = fmt.Appendf(text, "metrics:\n  listen: \"127.0.0.1:%d\"\n", testenv.FreePort(t))
	if err := os.WriteFile(cfg, text, 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkDaemonLog fails t when a daemon's log shows a zero time or a key
// with a space (the text handler quotes such a key).
func checkDaemonLog(t *testing.T, log string) {
	t.Helper()
	if strings.Contains(log, "0001-01-01") {
		t.Errorf("a zero time in the daemon's log:\n%s", log)
	}
	if m := regexp.MustCompile(` "[^"=]*"=`).FindString(log); m != "" {
		t.Errorf("a log key with a space, %s, in the daemon's log:\n%s", m, log)
	}
}

// waitFor polls cond until it holds or three minutes passed: a deadline
// for something that must happen, which a loaded machine may take long to
// do (a backup under -race on two busy cores), not a bound on its speed.
func waitFor(t *testing.T, what string, log *syncBuffer, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s never happened; daemon log:\n%s", what, log.String())
}

// committed returns the ids of the snapshots with a manifest.
func committed(t *testing.T, cfg string) []string {
	t.Helper()
	_, out, _ := mbackup(t, "--config", cfg, "list", "--json")
	var entries []listEntry
	json.Unmarshal([]byte(out), &entries)
	var ids []string
	for _, e := range entries {
		if e.Manifest != nil {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

func daemonConfig(t *testing.T, schedule string) string {
	t.Helper()
	return daemonConfigMetrics(t, schedule, "")
}

func daemonConfigMetrics(t *testing.T, schedule, listen string) string {
	t.Helper()
	_, cfg := setup(t, "  databases: [postgres]\n  globals: false\n")
	text, _ := os.ReadFile(cfg)
	text = bytes.Replace(text, []byte("redis:\n"), []byte("schedule:\n  backup: \""+schedule+"\"\nmetrics:\n  listen: \""+listen+"\"\nredis:\n"), 1)
	os.WriteFile(cfg, text, 0o600)
	return cfg
}

// TestDaemonSchedulesAndCatchesUp: a start with no snapshot backs up at
// once, then the schedule runs again; a run while another holds the lock
// is skipped; SIGTERM stops it with exit 0.
func TestDaemonSchedulesAndCatchesUp(t *testing.T) {
	redis.Do(t, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := daemonConfigMetrics(t, "@every 2s", listen)
	d := startDaemon(t, cfg)
	waitFor(t, "the catch-up backup", d.log, func() bool {
		return strings.Contains(d.log.String(), "catch-up: no complete snapshot") && len(committed(t, cfg)) >= 1
	})
	waitFor(t, "a scheduled backup", d.log, func() bool { return len(committed(t, cfg)) >= 2 })

	// A manual backup holds the lock: the daemon's runs meanwhile skip.
	c, _, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var l *lock.Lock
	waitFor(t, "the lock free between two runs", d.log, func() bool {
		l, err = lockStore(c.Storage, "mbackup backup (the test)")
		return err == nil
	})
	before := len(committed(t, cfg))
	waitFor(t, "a skipped run", d.log, func() bool { return strings.Contains(d.log.String(), "mbackup backup (the test)") })
	if n := len(committed(t, cfg)); n != before {
		t.Errorf("%d snapshots committed while the lock was held", n-before)
	}
	l.Release()
	waitFor(t, "a backup after the lock was released", d.log, func() bool { return len(committed(t, cfg)) > before })
	scraped := scrape(t, "http://"+listen+"/metrics")
	for _, want := range []string{
		`mbackup_runs_total{result="success",task="backup"}`, `mbackup_last_success_timestamp_seconds{task="backup"}`,
		`mbackup_artifact_bytes{component="postgres",database="postgres"}`, `mbackup_snapshots{status="complete"}`,
		"mbackup_newest_good_snapshot_age_seconds", "go_goroutines",
	} {
		if !strings.Contains(scraped, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	code, out, errOut := mbackup(t, "--config", cfg, "status")
	for _, want := range []string{"complete, 0 partial", "newest good snapshot: 2026", `backup: "@every 2s", next`, "daemon: running", "last backup: success at"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("status exited %d, lacks %q:\n%s%s", code, want, out, errOut)
		}
	}
	t.Logf("mbackup status:\n%s", out)
	if _, out, _ := mbackup(t, "--config", cfg, "status", "--json"); !strings.Contains(out, `"reachable": true`) || !strings.Contains(out, `"newest_good": {`) {
		t.Errorf("status --json:\n%s", out)
	}
	d.cancel()
	select {
	case code := <-d.done:
		if code != exitOK {
			t.Errorf("daemon exited %d after SIGTERM; want 0\n%s", code, d.log.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("the daemon did not stop")
	}
	d.done <- exitOK // for the cleanup
}

// TestDaemonStopMidRun: SIGTERM while pg_dump runs commits nothing, exits 0,
// and the next start catches up and succeeds.
func TestDaemonStopMidRun(t *testing.T) {
	pg.Exec(t, "postgres", "DROP DATABASE IF EXISTS daemon_big; CREATE DATABASE daemon_big")
	// Enough for a pg_dump seen running (polled every 50 ms), small enough
	// that the restart's catch-up dumps it all within waitFor's deadline
	// on a loaded machine.
	pg.Exec(t, "daemon_big", "CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 150000) g")
	cfg := daemonConfig(t, "0 0 1 1 *")
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(text, []byte("databases: [postgres]"), []byte("databases: [daemon_big]"), 1), 0o600)
	d := startDaemon(t, cfg)
	waitFor(t, "pg_dump running", d.log, func() bool { return childRunning("pg_dump") })
	d.cancel()
	select {
	case code := <-d.done:
		if code != exitOK {
			t.Errorf("daemon exited %d after SIGTERM mid-run; want 0\n%s", code, d.log.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("the daemon did not stop")
	}
	d.done <- exitOK
	if ids := committed(t, cfg); len(ids) != 0 {
		t.Fatalf("a snapshot was committed by the interrupted run: %v\n%s", ids, d.log.String())
	}
	if childRunning("pg_dump") {
		t.Error("pg_dump still runs after the daemon stopped")
	}
	d2 := startDaemon(t, cfg)
	waitFor(t, "the catch-up after the restart", d2.log, func() bool { return len(committed(t, cfg)) == 1 })
}

// TestDaemonReload: SIGHUP with a broken file keeps the old configuration;
// with a good one, the new schedule applies.
func TestDaemonReload(t *testing.T) {
	cfg := daemonConfig(t, "0 0 1 1 *")
	d := startDaemon(t, cfg)
	waitFor(t, "the start", d.log, func() bool { return strings.Contains(d.log.String(), "daemon started") })
	good, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(bytes.Clone(good), "bogus_key: 1\n"...), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, "the refused reload", d.log, func() bool {
		return strings.Contains(d.log.String(), "the new configuration does not load; keeping the old one")
	})
	os.WriteFile(cfg, bytes.Replace(good, []byte(`backup: "0 0 1 1 *"`), []byte(`backup: "0 12 * * *"`), 1), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	reloaded := regexp.MustCompile(`msg="configuration reloaded" backup="0 12 \* \* \*" next_backup=\d{4}-`)
	waitFor(t, "the reload", d.log, func() bool { return reloaded.MatchString(d.log.String()) })
	if n := strings.Count(d.log.String(), `msg="daemon started"`); n != 1 {
		t.Errorf(`"daemon started" logged %d times; a reload says "configuration reloaded":\n%s`, n, d.log.String())
	}
}

// childRunning reports whether a child of this process runs program.
func childRunning(program string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if !strings.Contains(string(b), "/"+program+"\x00") && !strings.HasPrefix(string(b), program+"\x00") {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err == nil && testenv.ParentPID(pid) == os.Getpid() {
			return true
		}
	}
	return false
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
