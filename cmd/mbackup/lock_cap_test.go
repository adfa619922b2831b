package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"mbackup/internal/b2test"
)

// TestLockStorageCap: a backup that meets the account's storage cap fails
// saying what to raise where, on its output, in Slack and in
// mbackup_storage_cap_reached; list, status and prune keep working at the
// cap; the gauge is 0 again after a backup below it.
func TestLockStorageCap(t *testing.T) {
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	var mu sync.Mutex
	var posted []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posted = append(posted, string(b))
		mu.Unlock()
	}))
	defer hook.Close()
	dir, cfg := b2Setup(t, srv, "", "notify:\n  slack:\n    webhook_url: "+hook.URL+"/services/T/B/x\n")
	if code, out, errOut := mbackup(t, "--config", cfg, "backup", "--only", "postgres"); code != exitOK {
		t.Fatalf("the first backup exited %d:\n%s%s", code, out, errOut)
	}
	var used int64
	for _, f := range srv.Versions("backups") {
		used += f.Size
	}
	srv.SetStorageCap(used)
	mu.Lock()
	posted = nil
	mu.Unlock()

	textfile := filepath.Join(dir, "mbackup.prom")
	code, out, errOut := mbackup(t, "--config", cfg, "backup", "--metrics-textfile", textfile)
	t.Logf("backup at the cap exited %d:\n%s%s", code, out, errOut)
	for _, w := range []string{"storage cap exceeded", "raise the storage cap in the B2 web console (Account > Caps & Alerts, storage cap)"} {
		if code == exitOK || !strings.Contains(out+errOut, w) {
			t.Errorf("the backup at the cap does not say %q", w)
		}
	}
	if m, _ := os.ReadFile(textfile); !strings.Contains(string(m), `mbackup_storage_cap_reached{task="backup"} 1`) {
		t.Errorf("metrics:\n%s", m)
	}
	mu.Lock()
	slack := strings.Join(posted, "\n")
	mu.Unlock()
	if !strings.Contains(slack, "storage cap exceeded") || !strings.Contains(slack, "raise the storage cap in the B2 web console") {
		t.Errorf("Slack was told:\n%s", slack)
	}

	for _, args := range [][]string{{"list"}, {"status"}, {"prune"}} {
		code, out, errOut := mbackup(t, append([]string{"--config", cfg}, args...)...)
		if code != exitOK {
			t.Errorf("%s at the cap exited %d:\n%s%s", args[0], code, out, errOut)
		}
	}

	srv.SetStorageCap(0)
	if code, out, errOut := mbackup(t, "--config", cfg, "backup", "--only", "postgres", "--metrics-textfile", textfile); code != exitOK {
		t.Fatalf("the backup below the cap exited %d:\n%s%s", code, out, errOut)
	}
	if m, _ := os.ReadFile(textfile); !strings.Contains(string(m), `mbackup_storage_cap_reached{task="backup"} 0`) {
		t.Errorf("metrics after a backup below the cap:\n%s", m)
	}
}
