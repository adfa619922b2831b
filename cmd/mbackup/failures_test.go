package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mbackup/internal/testenv"
)

// killWhenSeen SIGKILLs the first process whose command line contains
// cmdMatch and whose environment contains envMatch, among this test
// process's children (other packages' tests run pg_dump at the same time),
// once it has run for a moment, and reports whether it did.
func killWhenSeen(stop <-chan struct{}, cmdMatch, envMatch string) bool {
	for {
		select {
		case <-stop:
			return false
		default:
		}
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			b, _ := os.ReadFile(p)
			env, _ := os.ReadFile(strings.TrimSuffix(p, "cmdline") + "environ")
			if strings.Contains(string(b), cmdMatch) && strings.Contains(string(env), "\x00"+envMatch+"\x00") {
				var pid int
				if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err == nil && testenv.ParentPID(pid) == os.Getpid() {
					time.Sleep(20 * time.Millisecond) // mid-stream
					syscall.Kill(pid, syscall.SIGKILL)
					return true
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBackupSurvivesFailingProducers: pg_dump killed by SIGKILL mid-stream,
// pg_dump exiting 1 (permission denied on a table), redis-cli that cannot
// connect. Each fails its own artifact with a clear reason; the snapshot is
// partial and holds the others; no failed artifact is stored.
func TestBackupSurvivesFailingProducers(t *testing.T) {
	pg.Exec(t, "postgres", `CREATE DATABASE f_big; CREATE DATABASE f_denied; CREATE DATABASE f_fine;
		CREATE ROLE f_limited LOGIN PASSWORD 'limited-pw';`)
	pg.Exec(t, "f_big", "CREATE TABLE t AS SELECT g, repeat('x', 300) AS pad FROM generate_series(1, 300000) g; GRANT SELECT ON t TO f_limited")
	pg.Exec(t, "f_denied", "CREATE TABLE secret (v int)") // f_limited may not read it: pg_dump exits 1
	pg.Exec(t, "f_fine", "CREATE TABLE ok AS SELECT 1 AS v; GRANT SELECT ON ok TO f_limited")
	dir, cfg := setup(t, "  databases: [f_big, f_denied, f_fine]\n  globals: false\n")
	text, _ := os.ReadFile(cfg)
	text = []byte(strings.Replace(string(text), "  user: "+pg.User+"\n  password_file: pg.pass", "  user: f_limited\n  password_file: limited.pass", 1))
	text = []byte(strings.Replace(string(text), "url: redis://"+redis.Addr, "url: redis://127.0.0.1:1", 1))
	os.WriteFile(cfg, text, 0o600)
	os.WriteFile(filepath.Join(dir, "limited.pass"), []byte("limited-pw\n"), 0o600)

	stop := make(chan struct{})
	var killed bool
	var wg sync.WaitGroup
	wg.Go(func() { killed = killWhenSeen(stop, "--snapshot=", "PGDATABASE=f_big") })
	code, out, errOut := mbackup(t, "--config", cfg, "backup")
	close(stop)
	wg.Wait()
	if code != exitPartial {
		t.Fatalf("backup exited %d, want %d:\n%s\n%s", code, exitPartial, out, errOut)
	}
	m := onlySnapshot(t, cfg)
	reasons := map[string]string{}
	for _, f := range m.Failed {
		reasons[f.Component+"/"+f.Name] = f.Reason
	}
	for name, want := range map[string]string{
		"postgres/f_denied": "permission denied for table secret",
		"redis/main":        "connect",
	} {
		if !strings.Contains(reasons[name], want) {
			t.Errorf("%s: reason %q; want it to contain %q", name, reasons[name], want)
		}
	}
	if !killed {
		t.Fatal("the pg_dump of f_big was never seen, so never killed")
	}
	if !strings.Contains(reasons["postgres/f_big"], "signal: killed") {
		t.Errorf("f_big: reason %q after its pg_dump was killed", reasons["postgres/f_big"])
	}
	stored := map[string]bool{}
	for _, a := range m.Artifacts {
		stored[a.Component+"/"+a.Name] = true
	}
	if !stored["postgres/f_fine"] {
		t.Errorf("the snapshot lost the good artifacts: %v (failed: %q)", stored, reasons)
	}
	for name := range reasons {
		comp, n, _ := strings.Cut(name, "/")
		matches, _ := filepath.Glob(filepath.Join(dir, "store", "snapshots", m.ID, comp, n+".*"))
		if len(matches) > 0 {
			t.Errorf("failed artifact %s is stored: %v", name, matches)
		}
	}
	for _, secret := range []string{"limited-pw", pg.Password} {
		if strings.Contains(out+errOut, secret) {
			t.Error("a password is in the output")
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "store", "snapshots", m.ID, "manifest.json")); errors.Is(err, fs.ErrNotExist) {
		t.Error("no manifest for the partial snapshot")
	}
}
