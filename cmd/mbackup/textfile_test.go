package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupMetricsTextfile: a manual backup writes the series the alerts
// use to a node_exporter textfile; a failed one records the failure.
func TestBackupMetricsTextfile(t *testing.T) {
	_, cfg := setup(t, "  databases: [postgres]\n  globals: false\n")
	prom := filepath.Join(t.TempDir(), "mbackup.prom")
	if code, out, errOut := mbackup(t, "--config", cfg, "backup", "--only", "postgres", "--metrics-textfile", prom); code != exitOK {
		t.Fatalf("backup exited %d:\n%s%s", code, out, errOut)
	}
	b, err := os.ReadFile(prom)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`mbackup_runs_total{result="success",task="backup"} 1`, `mbackup_snapshots{status="complete"} 1`,
		"mbackup_newest_good_snapshot_timestamp_seconds 1.", `mbackup_artifact_bytes{component="postgres",database="postgres"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the textfile lacks %s:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "go_goroutines") {
		t.Error("the textfile holds go_* series, which clash with node_exporter's own")
	}
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), "databases: [postgres]", "databases: [no_such_db]", 1)), 0o600)
	if code, _, _ := mbackup(t, "--config", cfg, "backup", "--only", "postgres", "--metrics-textfile", prom); code != exitError {
		t.Fatalf("a failing backup exited %d", code)
	}
	b, _ = os.ReadFile(prom)
	if !strings.Contains(string(b), `mbackup_runs_total{result="failure",task="backup"} 1`) || !strings.Contains(string(b), `mbackup_snapshots{status="complete"} 1`) {
		t.Errorf("after a failed run the textfile says:\n%s", b)
	}
}
