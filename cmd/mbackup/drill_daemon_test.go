package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mbackup/internal/testenv"
)

// TestDaemonVerifierDrills: a verifier's daemon (a store, the signer, a
// drill section, nothing to back up) drills on its schedule, takes no
// backup, and exports the drill's series. A daemon started afterwards on
// the backup host has the last-success series of backup and drill and the
// drill's series before any run, read from the store.
func TestDaemonVerifierDrills(t *testing.T) {
	dir, cfg, _ := restoreFixture(t)
	before := len(committed(t, cfg))
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	signer := regexp.MustCompile(`(?m)^  signer: .*$`).Find(text)
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	verifier := filepath.Join(t.TempDir(), "verifier.yaml")
	os.WriteFile(verifier, fmt.Appendf(nil, `host: verifier
storage:
  type: local
  path: %s
encryption:
%s
drill:
  schedule: "@every 1s"
  identity_file: %s
  dir: %s
metrics:
  listen: %q
`, filepath.Join(dir, "store"), signer, filepath.Join(dir, "id.txt"), t.TempDir(), listen), 0o600)

	d := startDaemon(t, verifier)
	url := "http://" + listen + "/metrics"
	waitFor(t, "a drill", d.log, func() bool { return strings.Contains(d.log.String(), "job=drill") })
	m := scrape(t, url)
	for _, want := range []string{"mbackup_drill_last_ok 1", `mbackup_last_success_timestamp_seconds{task="drill"}`,
		`mbackup_drill_restore_seconds{component="postgres"}`, `mbackup_runs_total{result="success",task="drill"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("the verifier's metrics lack %s:\n%s", want, grepLines(m, "mbackup_"))
		}
	}
	if !strings.Contains(d.log.String(), `backup="none (a verifier)"`) {
		t.Errorf("the verifier's start line does not say it backs up nothing:\n%s", d.log.String())
	}
	d.cancel()
	code := <-d.done
	d.done <- code // for the cleanup's wait
	if code != exitOK {
		t.Errorf("the verifier's daemon exited %d on SIGTERM", code)
	}
	if n := len(committed(t, cfg)); n != before {
		t.Errorf("%d snapshots after the verifier ran, want %d: it backed up", n, before)
	}

	// The backup host, restarted with no run due: the series are there.
	listen2 := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	text = regexp.MustCompile(`(?m)^redis:\n`).ReplaceAll(text, fmt.Appendf(nil, "schedule:\n  backup: \"0 0 1 1 *\"\nmetrics:\n  listen: %q\nredis:\n", listen2))
	os.WriteFile(cfg, text, 0o600)
	b := startDaemon(t, cfg)
	waitFor(t, "the store listed", b.log, func() bool {
		return strings.Contains(scrapeOrEmpty(url2(listen2)), "mbackup_newest_good_snapshot_timestamp_seconds")
	})
	m = scrape(t, url2(listen2))
	for _, want := range []string{`mbackup_last_success_timestamp_seconds{task="backup"}`, `mbackup_last_success_timestamp_seconds{task="drill"}`,
		"mbackup_drill_last_ok 1", "mbackup_drill_duration_seconds", "mbackup_drill_last_success_timestamp_seconds"} {
		if !strings.Contains(m, want) {
			t.Errorf("after a restart, before any run, the metrics lack %s:\n%s", want, grepLines(m, "mbackup_"))
		}
	}
	if strings.Contains(m, `mbackup_runs_total{result="success",task="backup"} 1`) {
		t.Error("the restarted daemon ran a backup")
	}
}

func url2(listen string) string { return "http://" + listen + "/metrics" }

// scrapeOrEmpty is the text of url, "" when it does not answer.
func scrapeOrEmpty(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// grepLines keeps the lines of s that start with prefix.
func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
