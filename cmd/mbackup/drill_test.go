package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"mbackup/internal/drill"
)

// TestDrillCommand: mbackup drill restores the fixture's snapshot into its
// own servers and passes, prints every step with its time and the RTO,
// records the result in the store (status and --json show it) and leaves
// nothing in its directory; a snapshot with a truncated artifact fails with
// exit 1, naming it, and is recorded as failed.
func TestDrillCommand(t *testing.T) {
	dir, cfg, m := restoreFixture(t)
	id := filepath.Join(dir, "id.txt")
	work := t.TempDir()
	code, out, errOut := mbackup(t, "--config", cfg, "drill", "-i", id, "--dir", work)
	t.Logf("drill printed:\n%s", out)
	if code != exitOK {
		t.Fatalf("drill exited %d:\n%s\n%s", code, out, lastLines(errOut, 20))
	}
	for _, want := range []string{"drill of snapshot " + m.ID, "postgres/rst_app", "mysql/rst_blog", "redis/main",
		"start server", "restore", "drill: ok: restored and checked in", "RTO"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	checkEmptyDir(t, work)
	_, st, _ := mbackup(t, "--config", cfg, "status")
	if !strings.Contains(st, "last drill: ok ") || !strings.Contains(st, m.ID) {
		t.Errorf("status does not show the drill:\n%s", st)
	}

	// The newest artifact cut short in the store: the drill fails, names
	// it, and the failure is the newest record.
	var key string
	for _, a := range m.Artifacts {
		if a.Component == "postgres" && a.Name == "rst_app" {
			key = a.Key
		}
	}
	path := filepath.Join(dir, "store", key)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = mbackup(t, "--config", cfg, "drill", "-i", id, "--dir", work, "--json")
	if code != exitError || !strings.Contains(errOut, "rst_app") {
		t.Fatalf("drill of a truncated artifact exited %d, want 1 naming rst_app:\n%s", code, lastLines(errOut, 10))
	}
	var rec drill.Record
	if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.OK || rec.Snapshot != m.ID || !strings.Contains(rec.Error, "rst_app") {
		t.Errorf("--json printed %+v (%v), want the failed record of %s", rec, err, m.ID)
	}
	checkEmptyDir(t, work)
	_, st, _ = mbackup(t, "--config", cfg, "status", "--json")
	var rep struct {
		Last *struct{ OK bool } `json:"last_drill"`
		Good *struct{ OK bool } `json:"last_good_drill"`
	}
	if err := json.Unmarshal([]byte(st), &rep); err != nil || rep.Last == nil || rep.Last.OK || rep.Good == nil || !rep.Good.OK {
		t.Errorf("status --json: %+v (%v), want a failed last drill and a good one before it:\n%s", rep, err, st)
	}
}

// TestDrillUsage: no identity is a usage error naming both ways to give
// one; a missing identity file names it.
func TestDrillUsage(t *testing.T) {
	dir, cfg := setup(t, "")
	os.Mkdir(filepath.Join(dir, "store"), 0o700) // a drill never creates the store
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "-i FILE, or drill.identity_file"},
		{[]string{"-i", "/nonexistent/id.txt"}, exitError, "/nonexistent/id.txt"},
		{[]string{"a", "b"}, exitUsage, "at most one snapshot id"},
	} {
		code, _, errOut := mbackup(t, append([]string{"--config", cfg, "drill"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("drill %q exited %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.want, errOut)
		}
	}
}

// TestDrillInterrupted: SIGTERM as the restore of a database begins (main
// cancels the run's context) exits 130 and leaves no server, no directory
// and no staged plaintext; nothing is recorded.
func TestDrillInterrupted(t *testing.T) {
	dir, cfg, _ := restoreFixture(t)
	work := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errb := &cancelOn{when: "postgres/rst_app: restore", cancel: cancel}
	var out bytes.Buffer
	code := run(ctx, []string{"--config", cfg, "drill", "-i", filepath.Join(dir, "id.txt"), "--dir", work}, nil, &out, errb)
	if !errb.seen() {
		t.Fatalf("the restore of rst_app never began; exit %d:\n%s", code, lastLines(errb.String(), 10))
	}
	if code != exitInterrupted {
		t.Errorf("exit %d, want %d:\n%s", code, exitInterrupted, lastLines(errb.String(), 10))
	}
	checkEmptyDir(t, work)
	for _, prog := range []string{"postgres", "mariadbd", "redis-server", "pg_restore"} {
		if p := serverIn(work, prog); p != "" {
			t.Errorf("%s left running: %s", prog, p)
		}
	}
	if _, st, _ := mbackup(t, "--config", cfg, "status"); !strings.Contains(st, "last drill: none recorded") {
		t.Errorf("an interrupted drill was recorded:\n%s", st)
	}
}

// cancelOn is a writer that calls cancel once what it was written holds
// when: the moment a signal is sent, found in the command's own output.
type cancelOn struct {
	when   string
	cancel func()
	mu     sync.Mutex
	b      bytes.Buffer
	hit    bool
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b.Write(p)
	if !c.hit && strings.Contains(c.b.String(), c.when) {
		c.hit = true
		c.cancel()
	}
	return len(p), nil
}

func (c *cancelOn) seen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hit
}

func (c *cancelOn) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

// checkEmptyDir fails unless dir exists and is empty.
func checkEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left in %s: %s", dir, e.Name())
	}
}

// serverIn returns the command line of a process running prog whose
// command line names dir, "" when there is none.
func serverIn(dir, prog string) string {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, prog) && strings.Contains(cmd, dir) {
			return fmt.Sprintf("%s: %s", p, cmd)
		}
	}
	return ""
}
