package main

import (
	"strings"
	"testing"

	"mbackup/internal/config"
)

// TestBackupRefusedWhileLocked: a backup while another run holds the
// store's lock exits 1 naming the holder, and commits nothing.
func TestBackupRefusedWhileLocked(t *testing.T) {
	_, cfgPath := setup(t, "  databases: [postgres]\n")
	cfg, _, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lockStore(cfg.Storage, "mbackup daemon: backup")
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := mbackup(t, "--config", cfgPath, "backup", "--only", "postgres")
	if code != exitError || !strings.Contains(errOut, "another mbackup run is using this store") || !strings.Contains(errOut, "mbackup daemon: backup") {
		t.Fatalf("backup under a held lock exited %d:\n%s", code, errOut)
	}
	if _, out, _ := mbackup(t, "--config", cfgPath, "status"); !strings.Contains(out, "a run is in progress") || !strings.Contains(out, "newest good snapshot: NONE") {
		t.Errorf("status while locked:\n%s", out)
	}
	l.Release()
	if _, out, _ := mbackup(t, "--config", cfgPath, "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("list after the refused backup: %s", out)
	}
	if code, _, errOut := mbackup(t, "--config", cfgPath, "backup", "--only", "postgres"); code != exitOK {
		t.Fatalf("backup after the lock was released exited %d:\n%s", code, errOut)
	}
}
