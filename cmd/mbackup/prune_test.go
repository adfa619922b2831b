package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"mbackup/internal/dump"
	"mbackup/internal/snapshot"
	"mbackup/internal/sshsig"
	"mbackup/internal/storage/local"
)

// takeAt commits a complete snapshot dated ago into the local store of a
// setup directory, signed with its signing key, and returns its id.
func takeAt(t *testing.T, dir string, ago time.Duration) string {
	t.Helper()
	s, err := local.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	tk := &snapshot.Taker{
		Store: s, Recipients: []age.Recipient{id.Recipient()}, RecipientIDs: []string{id.Recipient().String()},
		Host: "test", Tool: "mbackup test", Now: func() time.Time { return time.Now().Add(-ago) },
	}
	if key, err := os.ReadFile(filepath.Join(dir, "signing.key")); err == nil {
		signer, err := sshsig.ParsePrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		tk.Signer = signer
	}
	produce := func(ctx context.Context, w io.Writer) (dump.Info, error) {
		cmd := exec.CommandContext(ctx, "sh", "-c", "seq 1 1000")
		cmd.Stdout = w
		return dump.Info{Command: "seq"}, cmd.Run()
	}
	m, err := tk.Take(context.Background(), []snapshot.Job{{Component: "postgres", Name: "db", Ext: ".dump", Produce: produce}})
	if err != nil {
		t.Fatal(err)
	}
	if ago > 2*24*time.Hour {
		// An interrupted run shortly after: artifacts, no manifest.
		id := snapshot.NewID(time.Now().Add(-ago + time.Hour))
		if _, err := s.Put(context.Background(), snapshot.ArtifactKey(id, "postgres", "db", ".dump"), strings.NewReader("half")); err != nil {
			t.Fatal(err)
		}
	}
	return m.ID
}

func TestPrune(t *testing.T) {
	dir, cfg := setup(t, "")
	day := 24 * time.Hour
	old, older := takeAt(t, dir, 20*day), takeAt(t, dir, 19*day)
	kept := []string{takeAt(t, dir, 18*day), takeAt(t, dir, time.Hour)}
	_, listed, _ := mbackup(t, "--config", cfg, "list")

	code, out, errOut := mbackup(t, "--config", cfg, "prune", "--dry-run")
	if code != exitOK || !strings.HasPrefix(out, "retention: keep every snapshot younger than 14 days, and the newest 2 complete ones\n") ||
		strings.Count(out, "would delete snapshot ") != 2 || strings.Count(out, "would delete interrupted run ") != 3 ||
		!strings.Contains(out, "would delete snapshot "+old+": older than 14d, not among the newest 2 complete\n") ||
		!strings.Contains(out, "\nwould prune 2 snapshots and 3 interrupted runs (") || !strings.HasSuffix(out, " KiB); kept 2\n") {
		t.Fatalf("prune --dry-run exited %d:\n%s\n%s", code, out, errOut)
	}
	if _, after, _ := mbackup(t, "--config", cfg, "list"); after != listed {
		t.Errorf("dry run changed the listing:\n%s\nthen\n%s", listed, after)
	}

	code, out, errOut = mbackup(t, "--config", cfg, "prune")
	if code != exitOK || !strings.Contains(out, "deleted snapshot "+older+": older than 14d") ||
		!strings.Contains(out, "pruned 2 snapshots and 3 interrupted runs (") || strings.Contains(out, "would") {
		t.Fatalf("prune exited %d:\n%s\n%s", code, out, errOut)
	}
	_, after, _ := mbackup(t, "--config", cfg, "list")
	if lines := strings.Split(strings.TrimSpace(after), "\n"); len(lines) != 3 ||
		!strings.HasPrefix(lines[1], kept[1]) || !strings.HasPrefix(lines[2], kept[0]) {
		t.Errorf("after prune, list:\n%s", after)
	}
	code, out, _ = mbackup(t, "--config", cfg, "prune")
	if code != exitOK || out != "pruned 0 snapshots and 0 interrupted runs (0 B); kept 2\n" {
		t.Errorf("second prune exited %d:\n%s", code, out)
	}
}

func TestPruneUsage(t *testing.T) {
	_, cfg := setup(t, "")
	if code, _, errOut := mbackup(t, "--config", cfg, "prune", "now"); code != exitUsage || !strings.Contains(errOut, `unexpected argument "now"`) {
		t.Errorf("prune now exited %d: %s", code, errOut)
	}
}
