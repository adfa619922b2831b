package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mbackup/internal/b2test"
	"mbackup/internal/config"
	"mbackup/internal/metrics"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage/local"
	"mbackup/internal/task"
	"mbackup/internal/testenv"
)

// putManifest stores an artifact and the manifest doc under a new id dated
// ago before now in the local store of a setup directory, as a newer
// mbackup or a damaged store leaves them, and returns the id.
func putManifest(t *testing.T, dir string, ago time.Duration, doc func(id string) string) string {
	t.Helper()
	s, err := local.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	id := snapshot.NewID(time.Now().Add(-ago))
	ctx := context.Background()
	if _, err := s.Put(ctx, snapshot.ArtifactKey(id, "postgres", "db", ".dump"), strings.NewReader("dump")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, snapshot.ManifestKey(id), strings.NewReader(doc(id))); err != nil {
		t.Fatal(err)
	}
	return id
}

func invalidManifest(id string) string { return `{"format": 1, "id": "` + id + `", "sta` }
func newerManifest(id string) string {
	return `{"format": 2, "id": "` + id + `", "status": "complete", "signature": "..."}`
}

// TestUnreadableManifests: beside a good snapshot, one with an invalid
// manifest and one of format 2 (the newest). Every command carries on:
// list and list --json show them with the reason, status and check name
// them, verify takes the good one and fails them when named or with
// --all, restore offers the good one, and prune deletes neither.
func TestUnreadableManifests(t *testing.T) {
	dir, cfg := setup(t, "")
	good := takeAt(t, dir, 3*time.Hour)
	invalid := putManifest(t, dir, 2*time.Hour, invalidManifest)
	newer := putManifest(t, dir, time.Hour, newerManifest)

	code, out, errOut := mbackup(t, "--config", cfg, "list")
	if code != exitOK || !regexp.MustCompile(invalid+`.*unreadable .*unexpected end of JSON input; left alone by prune`).MatchString(out) ||
		!regexp.MustCompile(newer+`.*newer-format .*format 2 is newer than this mbackup reads`).MatchString(out) {
		t.Errorf("list exited %d:\n%s%s", code, out, errOut)
	}
	t.Logf("mbackup list:\n%s", out)
	code, out, _ = mbackup(t, "--config", cfg, "list", "--json")
	var entries []map[string]any
	if err := json.Unmarshal([]byte(out), &entries); err != nil || code != exitOK || len(entries) != 3 {
		t.Fatalf("list --json exited %d: %v\n%s", code, err, out)
	}
	if e := entries[0]; e["id"] != newer || e["status"] != "newer-format" || !strings.Contains(fmt.Sprint(e["reason"]), "format 2") || e["bytes"] == nil {
		t.Errorf("list --json, newer: %v", e)
	}
	if e := entries[1]; e["id"] != invalid || e["status"] != "unreadable" || !strings.Contains(fmt.Sprint(e["reason"]), "unexpected end of JSON input") {
		t.Errorf("list --json, invalid: %v", e)
	}
	if e := entries[2]; e["id"] != good || e["status"] != "complete" || e["manifest"] == nil || e["reason"] != nil {
		t.Errorf("list --json, good: %v", e)
	}

	code, out, errOut = mbackup(t, "--config", cfg, "status")
	if !regexp.MustCompile("newest good snapshot: " + good + `, 3h0m\d+s ago`).MatchString(out) {
		t.Errorf("status does not name %s as the newest good snapshot:\n%s", good, out)
	}
	for _, want := range []string{"snapshots: 1 complete, 0 partial, 0 incomplete (interrupted runs), 1 unreadable, 1 newer-format\n",
		"snapshot " + invalid + " (unreadable): unreadable manifest: unexpected end of JSON input; its manifest is damaged",
		"snapshot " + newer + " (newer-format): manifest of a newer format", "upgrade mbackup"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("status exited %d, lacks %q:\n%s%s", code, want, out, errOut)
		}
	}
	_, out, _ = mbackup(t, "--config", cfg, "check")
	for _, want := range []string{"✅ storage local: listed 3 snapshot(s)", "⚠️  snapshot " + invalid + ": unreadable: ", "⚠️  snapshot " + newer + ": newer-format: "} {
		if !strings.Contains(out, want) {
			t.Errorf("check lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = mbackup(t, "--config", cfg, "verify")
	if code != exitOK || !strings.HasPrefix(out, good+": complete: 1 artifacts") {
		t.Errorf("verify exited %d:\n%s%s", code, out, errOut)
	}
	code, out, _ = mbackup(t, "--config", cfg, "verify", newer)
	if code != exitError || !strings.HasPrefix(out, newer+": FAILED: newer-format: ") {
		t.Errorf("verify %s exited %d:\n%s", newer, code, out)
	}
	code, out, _ = mbackup(t, "--config", cfg, "verify", "--all")
	if code != exitError || !strings.Contains(out, invalid+": FAILED: unreadable: ") || !strings.Contains(out, good+": complete: 1 artifacts") {
		t.Errorf("verify --all exited %d:\n%s", code, out)
	}
	_, out, _ = mbackupIn(t, "", "--config", cfg, "restore")
	if !strings.HasPrefix(out, "snapshot "+good+" (complete)") {
		t.Errorf("restore offered:\n%s", out)
	}

	code, out, errOut = mbackup(t, "--config", cfg, "prune")
	if code != exitOK || !strings.Contains(out, "left alone snapshot "+invalid+": unreadable") || !strings.Contains(out, "left alone snapshot "+newer+": newer-format") {
		t.Errorf("prune exited %d:\n%s%s", code, out, errOut)
	}
	if _, after, _ := mbackup(t, "--config", cfg, "list"); strings.Count(after, "\n") != 4 {
		t.Errorf("after prune, list:\n%s", after)
	}
}

// TestFutureDatedSnapshot: a complete snapshot dated a year ahead beside a
// real one two days old. status, the metrics, restore and verify take the
// real one; status prints no negative age; prune with keep_last 1 deletes
// nothing; the daemon's catch-up backs up, the real one being older than
// the backup interval, and its prune keeps the future one.
func TestFutureDatedSnapshot(t *testing.T) {
	dir, cfg := setup(t, "  databases: [postgres]\n  globals: false\n")
	real := takeAt(t, dir, 47*time.Hour)
	future := takeAt(t, dir, -365*24*time.Hour)
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(text, "retention:\n  keep_within: 1d\n  keep_last: 1\nschedule:\n  backup: \"0 3 * * *\"\n"...), 0o600)

	code, out, errOut := mbackup(t, "--config", cfg, "status")
	if code != exitOK || !regexp.MustCompile("newest good snapshot: "+real+`, 47h0m\d+s ago`).MatchString(out) ||
		!strings.Contains(out, "snapshot "+future+" (complete): dated in the future (") || strings.Contains(out, " -") {
		t.Errorf("status exited %d:\n%s%s", code, out, errOut)
	}
	t.Logf("mbackup status:\n%s", out)
	_, out, _ = mbackup(t, "--config", cfg, "list")
	if !regexp.MustCompile(future + `.*complete, dated in the future`).MatchString(out) {
		t.Errorf("list:\n%s", out)
	}
	s, err := local.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	o := task.NewObserver(slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), metrics.New("backup"))
	newest, err := o.Refresh(context.Background(), s)
	if m, _ := snapshot.Load(context.Background(), s, real); err != nil || !newest.Equal(m.Started) {
		t.Errorf("refresh = %v, %v; want the real snapshot's start", newest, err)
	}
	_, out, _ = mbackupIn(t, "", "--config", cfg, "restore")
	if !strings.HasPrefix(out, "snapshot "+real+" (complete)") {
		t.Errorf("restore offered:\n%s", out)
	}
	if code, out, _ := mbackup(t, "--config", cfg, "verify"); code != exitOK || !strings.HasPrefix(out, real+": ") {
		t.Errorf("verify exited %d:\n%s", code, out)
	}
	if code, out, _ := mbackup(t, "--config", cfg, "verify", future); code != exitOK || !strings.HasPrefix(out, future+": dated in the future (") {
		t.Errorf("verify %s exited %d:\n%s", future, code, out)
	}
	code, out, errOut = mbackup(t, "--config", cfg, "prune")
	if code != exitOK || !strings.HasPrefix(out, "pruned 0 snapshots") {
		t.Errorf("prune exited %d:\n%s%s", code, out, errOut)
	}

	d := startDaemon(t, cfg)
	waitFor(t, "the catch-up backup", d.log, func() bool {
		return strings.Contains(d.log.String(), "catch-up: the newest complete snapshot is older than the backup interval") &&
			strings.Contains(d.log.String(), `msg="run finished" job=backup result=success`)
	})
	if ids := committed(t, cfg); len(ids) != 2 || ids[0] != future || ids[1] <= real {
		t.Errorf("after the catch-up backup and its prune: %v", ids)
	}
	if !strings.Contains(d.log.String(), "snapshot dated in the future: never taken as the newest") {
		t.Errorf("daemon log:\n%s", d.log.String())
	}
}

// TestDaemonVerifyWithoutGoodSnapshot: a store holding only an invalid
// manifest, a format-2 one and a future-dated snapshot, sources that
// refuse connections (so the catch-up backup commits nothing): every
// scheduled verify is a failure on /metrics and on Slack.
func TestDaemonVerifyWithoutGoodSnapshot(t *testing.T) {
	slack := newSlackSink(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	dir, cfg := setup(t, "  databases: [postgres]\n  globals: false\n")
	putManifest(t, dir, 2*time.Hour, invalidManifest)
	putManifest(t, dir, time.Hour, newerManifest)
	takeAt(t, dir, -365*24*time.Hour)
	text, _ := os.ReadFile(cfg)
	closed := fmt.Sprint(testenv.FreePort(t))
	for _, r := range [][2]string{
		{fmt.Sprintf("port: %d\n  user: %s", pg.Port, pg.User), "port: " + closed + "\n  user: " + pg.User},
		{fmt.Sprintf("port: %d\n  user: %s", maria.Port, maria.User), "port: " + closed + "\n  user: " + maria.User},
		{"redis://" + redis.Addr, "redis://127.0.0.1:" + closed},
		{"redis:\n", fmt.Sprintf("schedule:\n  backup: \"0 3 * * *\"\n  verify: \"@every 1s\"\nmetrics:\n  listen: %q\nnotify:\n  slack:\n    webhook_url: %s/hook\nredis:\n", listen, slack.srv.URL)},
	} {
		if !bytes.Contains(text, []byte(r[0])) {
			t.Fatalf("the config holds no %q:\n%s", r[0], text)
		}
		text = bytes.Replace(text, []byte(r[0]), []byte(r[1]), 1)
	}
	os.WriteFile(cfg, text, 0o600)
	waitVerifyFailure(t, startDaemon(t, cfg), slack, listen, "no good snapshot (complete, not dated in the future) among 3 listed")
	if len(committed(t, cfg)) != 1 {
		t.Errorf("committed: %v", committed(t, cfg))
	}
}

// TestDaemonPruneFailureCounted: the prune after a daemon backup fails
// (B2 refuses to delete an interrupted run's leftovers): the failure is
// counted as a prune run on /metrics and posted to Slack.
func TestDaemonPruneFailureCounted(t *testing.T) {
	slack := newSlackSink(t)
	f := faultConfig(t, slack)
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	f.edit(t, "notify:\n", fmt.Sprintf("metrics:\n  listen: %q\nschedule:\n  backup: \"0 3 * * *\"\nnotify:\n", listen))
	c, _, err := config.Load(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := openStore(ctx, c.Storage)
	if err != nil {
		t.Fatal(err)
	}
	leftover := snapshot.ArtifactKey(snapshot.NewID(time.Now().Add(-72*time.Hour)), "postgres", "db", ".dump")
	if _, err := s.Put(ctx, leftover, strings.NewReader("half a dump")); err != nil {
		t.Fatal(err)
	}
	f.b2.Inject("b2_delete_file_version", b2test.Fault{Status: 401})
	d := startDaemon(t, f.cfg)
	waitFor(t, "a failed prune on Slack", d.log, func() bool {
		for _, b := range slack.all() {
			if strings.Contains(b, "prune") && strings.Contains(b, "retention: delete interrupted run") {
				return true
			}
		}
		return false
	})
	scraped := scrape(t, "http://"+listen+"/metrics")
	if !regexp.MustCompile(`mbackup_runs_total\{result="failure",task="prune"\} 1`).MatchString(scraped) {
		t.Errorf("/metrics:\n%s", scraped)
	}
}

// waitVerifyFailure waits for the daemon's scheduled verify to post a
// failure saying want to Slack, and checks it is counted on /metrics.
func waitVerifyFailure(t *testing.T, d *daemonRun, slack *slackSink, listen, want string) {
	t.Helper()
	waitFor(t, "a failed verify on Slack", d.log, func() bool {
		for _, b := range slack.all() {
			if strings.Contains(b, "verify") && strings.Contains(b, want) {
				return true
			}
		}
		return false
	})
	scraped := scrape(t, "http://"+listen+"/metrics")
	if !regexp.MustCompile(`mbackup_runs_total\{result="failure",task="verify"\} [1-9]`).MatchString(scraped) {
		t.Errorf("/metrics:\n%s", scraped)
	}
}
