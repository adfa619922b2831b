package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mbackup/internal/testenv"
)

// counter is the value of series on the daemon's /metrics at listen, -1
// when it is absent.
func counter(t *testing.T, listen, series string) int {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(series) + ` (\d+)\n`).FindStringSubmatch(scrape(t, "http://"+listen+"/metrics"))
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestStatusNeverKeepsABackupOut: "mbackup status" run hundreds of times
// while the daemon's scheduled backups run every second never keeps one
// out: every backup the scheduler started ends in success, none in
// failure (a run that cannot take the store's lock is a failure), and
// status saw runs in progress, so the two did meet.
func TestStatusNeverKeepsABackupOut(t *testing.T) {
	redis.Do(t, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := daemonConfigMetrics(t, "@every 1s", listen)
	d := startDaemon(t, cfg)
	waitFor(t, "the start", d.log, func() bool { return strings.Contains(d.log.String(), "daemon started") })

	const minStatus, minBackups = 300, 5
	var (
		mu                 sync.Mutex
		statusRuns, sawRun int
		statusFailed       []string
		ctx, stopHammer    = context.WithCancel(context.Background())
		hammered           = make(chan struct{})
	)
	go func() {
		defer close(hammered)
		for ctx.Err() == nil {
			code, out, errOut := mbackup(t, "--config", cfg, "status")
			mu.Lock()
			statusRuns++
			if code != exitOK {
				statusFailed = append(statusFailed, fmt.Sprintf("exit %d: %s", code, errOut))
			}
			if strings.Contains(out, "a run is in progress: ") {
				sawRun++
			}
			mu.Unlock()
		}
	}()
	deadline := time.Now().Add(5 * time.Minute) // a bound for a hung test, not a speed
	for {
		mu.Lock()
		runs, saw := statusRuns, sawRun
		mu.Unlock()
		ok := counter(t, listen, `mbackup_runs_total{result="success",task="backup"}`)
		if runs >= minStatus && saw > 0 && ok >= minBackups {
			break
		}
		if time.Now().After(deadline) {
			stopHammer()
			<-hammered
			t.Fatalf("%d status runs (%d saw a run in progress), %d backups succeeded; daemon log:\n%s", runs, saw, ok, d.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopHammer()
	<-hammered
	// Every backup the scheduler started has ended in success, but the one
	// that may run now: the log is read before /metrics.
	log := d.log.String()
	started := strings.Count(log, `msg="taking a snapshot"`)
	succeeded := counter(t, listen, `mbackup_runs_total{result="success",task="backup"}`)
	for _, result := range []string{"partial", "failure"} {
		if n := counter(t, listen, `mbackup_runs_total{result="`+result+`",task="backup"}`); n != 0 {
			t.Errorf("%d backups ended in %s", n, result)
		}
	}
	if strings.Contains(log, "did not run") || strings.Contains(log, "backup failed") {
		t.Errorf("a backup did not run or failed beside status:\n%s", log)
	}
	if succeeded < minBackups || succeeded < started-1 {
		t.Errorf("%d backups started, %d succeeded:\n%s", started, succeeded, log)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(statusFailed) > 0 {
		t.Errorf("%d of %d status runs failed, the first: %s", len(statusFailed), statusRuns, statusFailed[0])
	}
	t.Logf("%d status runs, %d of them beside a backup in progress; %d scheduled backups started, %d succeeded, none kept out",
		statusRuns, sawRun, started, succeeded)
}

// TestDaemonCountsPrune: the prune after a daemon backup is counted on
// /metrics as a prune run, and what it deleted as pruned snapshots.
func TestDaemonCountsPrune(t *testing.T) {
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := daemonConfigMetrics(t, "@every 1h", listen)
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), "\nredis:\n", "\nretention:\n  keep_within: 0\n  keep_last: 1\nredis:\n", 1)), 0o600)
	old := takeAt(t, filepath.Dir(cfg), 72*time.Hour)
	d := startDaemon(t, cfg)
	waitFor(t, "the start", d.log, func() bool { return strings.Contains(d.log.String(), "daemon started") })
	waitFor(t, "the catch-up backup counted", d.log, func() bool {
		return counter(t, listen, `mbackup_runs_total{result="success",task="backup"}`) == 1
	})
	for series, want := range map[string]int{
		`mbackup_runs_total{result="success",task="prune"}`: 1,
		`mbackup_runs_total{result="failure",task="prune"}`: 0,
		"mbackup_pruned_total":                              1,
	} {
		if n := counter(t, listen, series); n != want {
			t.Errorf("%s = %d, want %d; daemon log:\n%s", series, n, want, d.log.String())
		}
	}
	if ids := committed(t, cfg); len(ids) != 1 || ids[0] == old {
		t.Errorf("committed after the prune: %v (the old one: %s)", ids, old)
	}
}
