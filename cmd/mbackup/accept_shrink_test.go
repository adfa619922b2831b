package main

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/snapshot"
)

// TestShrinkGuard: a files entry whose content drops by 90 % between two
// backups is flagged in the manifest, on stdout, in the Slack message (a
// real webhook over HTTP) and in the metric; prune keeps the snapshot from
// before the drop beyond keep_within and keep_last; accept-shrink refuses
// an unknown or unflagged snapshot (exit 2) and, once it accepted the
// flagged one, prune deletes both.
func TestShrinkGuard(t *testing.T) {
	dir, cfg := setup(t, "")
	slack := newSlackSink(t)
	data := filepath.Join(dir, "uploads")
	os.MkdirAll(data, 0o700)
	write := func(n int) {
		b := make([]byte, n)
		rand.Read(b)
		if err := os.WriteFile(filepath.Join(data, "blob"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	text, _ := os.ReadFile(cfg)
	text = append(text, "files:\n  - "+data+"\nretention:\n  keep_within: 0\n  keep_last: 1\nnotify:\n  slack:\n    webhook_url: "+slack.srv.URL+"/hook\n"...)
	os.WriteFile(cfg, text, 0o600)
	backup := func() (*snapshot.Manifest, string) {
		t.Helper()
		// Snapshot ids have whole seconds: one second apart, they sort
		// as they were taken.
		time.Sleep(1100 * time.Millisecond)
		prom := filepath.Join(dir, "mbackup.prom")
		code, out, errOut := mbackup(t, "--config", cfg, "backup", "--only", "files", "--metrics-textfile", prom)
		if code != exitOK {
			t.Fatalf("backup exited %d:\n%s%s", code, out, errOut)
		}
		id := strings.Fields(out)[1]
		b, err := os.ReadFile(filepath.Join(dir, "store", snapshot.ManifestKey(strings.TrimSuffix(id, ":"))))
		if err != nil {
			t.Fatal(err)
		}
		var m snapshot.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		metrics, _ := os.ReadFile(prom)
		return &m, out + string(metrics)
	}

	write(2 << 20)
	before, out := backup()
	if len(before.Shrunk) != 0 || !strings.Contains(out, "\nmbackup_shrunk_artifacts 0\n") {
		t.Fatalf("first snapshot flagged %+v:\n%s", before.Shrunk, out)
	}
	write(200 << 10)
	flagged, out := backup()
	if len(flagged.Shrunk) != 1 || flagged.Shrunk[0].Previous != before.ID || flagged.Shrunk[0].Name != data {
		t.Fatalf("a 90%% drop: shrunk %+v", flagged.Shrunk)
	}
	line := "files/" + data + ": " + humanBytes(flagged.Shrunk[0].AfterBytes) + ", was 2.0 MiB in " + before.ID + " (−90 %); 1 files, was 1: retention keeps " +
		before.ID + " until `mbackup accept-shrink " + flagged.ID + "`"
	if !strings.Contains(out, "⚠️ "+line+"\n") || !strings.Contains(out, "\nmbackup_shrunk_artifacts 1\n") {
		t.Errorf("backup's output and metrics lack the flag %q:\n%s", line, out)
	}
	if msg := slack.last(); !strings.Contains(msg, "⚠️ 1 warning") || !strings.Contains(msg, "⚠️ "+line) {
		t.Errorf("Slack message lacks the warning %q:\n%s", line, msg)
	}
	write(200 << 10)
	latest, _ := backup()
	if len(latest.Shrunk) != 0 {
		t.Errorf("a snapshot as small as the previous flagged %+v", latest.Shrunk)
	}

	code, out, errOut := mbackup(t, "--config", cfg, "prune", "--dry-run")
	if code != exitOK || strings.Contains(out, "would delete snapshot") ||
		!strings.Contains(out, "kept snapshot "+before.ID+": before the shrink of "+flagged.ID+", until mbackup accept-shrink "+flagged.ID) ||
		!strings.Contains(out, "; kept 3; ⚠️ holding the snapshot before the shrink of "+flagged.ID) {
		t.Fatalf("prune --dry-run exited %d:\n%s%s", code, out, errOut)
	}
	if code, out, _ = mbackup(t, "--config", cfg, "list"); !strings.Contains(out, "⚠️ shrunk: 1 artifacts, holding "+before.ID+" until mbackup accept-shrink "+flagged.ID) {
		t.Errorf("list exited %d without the mark:\n%s", code, out)
	}

	for _, bad := range []struct{ id, want string }{
		{before.ID, "snapshot " + before.ID + " has no shrink flagged: nothing to accept"},
		{snapshot.NewID(time.Now().Add(-time.Hour)), "no snapshot "},
		{"yesterday", `"yesterday" is not a snapshot id`},
	} {
		if code, out, errOut := mbackup(t, "--config", cfg, "accept-shrink", bad.id); code != exitUsage || !strings.Contains(errOut, bad.want) {
			t.Errorf("accept-shrink %s exited %d:\n%s%s", bad.id, code, out, errOut)
		}
	}
	// It takes the writers' lock: not while a backup runs.
	loaded, _, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lockStore(loaded.Storage, "mbackup daemon: backup")
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := mbackup(t, "--config", cfg, "accept-shrink", flagged.ID); code != exitError || !strings.Contains(errOut, "mbackup daemon: backup") {
		t.Errorf("accept-shrink under a held lock exited %d:\n%s", code, errOut)
	}
	l.Release()
	if code, out, errOut := mbackup(t, "--config", cfg, "accept-shrink", flagged.ID); code != exitOK || !strings.Contains(out, "accepted the shrink of "+flagged.ID) {
		t.Fatalf("accept-shrink exited %d:\n%s%s", code, out, errOut)
	}
	if code, out, _ := mbackup(t, "--config", cfg, "accept-shrink", flagged.ID); code != exitOK || !strings.Contains(out, "already accepted") {
		t.Errorf("accept-shrink again exited %d:\n%s", code, out)
	}
	if _, out, _ := mbackup(t, "--config", cfg, "list"); !strings.Contains(out, "⚠️ shrunk (accepted)") {
		t.Errorf("list after acceptance:\n%s", out)
	}
	code, out, errOut = mbackup(t, "--config", cfg, "prune")
	if code != exitOK || !strings.Contains(out, "deleted snapshot "+before.ID) || !strings.Contains(out, "deleted snapshot "+flagged.ID) ||
		strings.Contains(out, "holding") {
		t.Fatalf("prune after acceptance exited %d:\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "store", "shrink-accepted", flagged.ID+".json")); !os.IsNotExist(err) {
		t.Errorf("the acceptance of a deleted snapshot is left: %v", err)
	}
	if _, out, _ := mbackup(t, "--config", cfg, "list"); strings.Count(out, "\n") != 2 || !strings.Contains(out, latest.ID) {
		t.Errorf("list after prune:\n%s", out)
	}
}
