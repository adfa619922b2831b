package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"mbackup/internal/b2test"
	"mbackup/internal/testenv"
)

// childRunning reports whether a child of this process runs program with
// arg among its arguments ("" for any).
func childRunning(program, arg string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		var pid int
		if strings.Contains(string(b), "/"+program+"\x00") && strings.Contains(string(b), "\x00"+arg) {
			if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err == nil && testenv.ParentPID(pid) == os.Getpid() {
				return true
			}
		}
	}
	return false
}

// TestInterruptedRestoreLeavesNothing cancels a restore while pg_restore
// runs: the database it created is dropped, the staging directory removed
// and no pg_restore is left running.
func TestInterruptedRestoreLeavesNothing(t *testing.T) {
	src := seed(t)
	src.pg.Exec(t, "mastodon_production", "INSERT INTO statuses (text) SELECT repeat('x', 200) FROM generate_series(1, 400000)")
	store, _, id, m := localSnapshot(t, src)
	pg := testenv.StartPostgres(t)
	targets := Targets{pgConfig(pg)}
	steps, err := Plan(m, []string{"postgres"}, targets, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// The restore proper, not the preflight's pg_restore --version.
		for ctx.Err() == nil && !childRunning("pg_restore", "--exit-on-error\x00") {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // mid-restore
		cancel()
	}()
	staging := t.TempDir()
	rep, err := Run(ctx, steps, targets, Options{Store: store, Identities: []age.Identity{id}, StagingDir: staging})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after a cancel: %v", err)
	}
	t.Log(err)
	last := rep.Steps[len(rep.Steps)-1]
	if last.Name() != "postgres/mastodon_production" || last.Restored {
		t.Fatalf("cancelled in step %s (restored %v): the test cancelled too late", last.Name(), last.Restored)
	}
	if got := pg.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'mastodon_production'"); got != "0" {
		t.Error("the half-restored database is still there")
	}
	if entries, _ := os.ReadDir(staging); len(entries) != 0 {
		t.Errorf("%d entries left in the staging directory", len(entries))
	}
	if childRunning("pg_restore", "") {
		t.Error("a pg_restore is still running")
	}
}

// TestB2DownloadFailures: a download host that never answers fails the
// restore before anything is written; a few 503s are retried.
func TestB2DownloadFailures(t *testing.T) {
	src := seed(t)
	store, srv := newB2(t)
	id, _ := age.GenerateX25519Identity()
	m := take(t, store, id, src)
	pg := testenv.StartPostgres(t)
	targets := Targets{pgConfig(pg)}
	steps, err := Plan(m, []string{"postgres"}, targets, false)
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Store: store, Identities: []age.Identity{id}, StagingDir: t.TempDir()}

	srv.Inject("download", b2test.Fault{Hang: true})
	_, err = Run(context.Background(), steps, targets, opt)
	if err == nil || !strings.Contains(err.Error(), "nothing was restored") {
		t.Fatalf("Run with a hanging download host: %v", err)
	}
	t.Log(err)
	if got := pg.Query(t, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'mastodon'"); got != "0" {
		t.Error("the globals were restored although a download hung")
	}
	srv.ClearFaults()

	// blazer waits about 1 s, then 2 s, before its two retries: a store
	// whose stall timeout is well above both, as the default 2 minutes is.
	srv.Inject("download", b2test.Fault{Status: 503, Times: 2})
	opt.Store = b2Store(t, srv, 15*time.Second)
	if _, err := Run(context.Background(), steps, targets, opt); err != nil {
		t.Fatalf("Run after two 503s: %v", err)
	}
}
