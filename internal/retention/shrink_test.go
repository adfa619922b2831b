package retention

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"mbackup/internal/dump"
	"mbackup/internal/shrink"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/storage/local"
)

// takeGuarded commits a snapshot of one database of n bytes dated ago
// before pruneNow, with the shrink guard at its default.
func takeGuarded(t *testing.T, s storage.Store, ago time.Duration, n int) *snapshot.Manifest {
	t.Helper()
	ctx := context.Background()
	id, _ := age.GenerateX25519Identity()
	g := shrink.Prepare(ctx, s, shrink.DefaultThreshold, pruneNow)
	tk := &snapshot.Taker{
		Store: s, Recipients: []age.Recipient{id.Recipient()}, RecipientIDs: []string{id.Recipient().String()},
		Host: "test", Tool: "mbackup test", Now: func() time.Time { return pruneNow.Add(-ago) }, Review: g.Review,
	}
	m, err := tk.Take(ctx, []snapshot.Job{{Component: "postgres", Name: "mastodon_production", Ext: ".dump",
		Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) {
			cmd := exec.CommandContext(ctx, "head", "-c", fmt.Sprint(n), "/dev/urandom")
			cmd.Stdout = w
			return dump.Info{Command: "head"}, cmd.Run()
		}}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPruneShrinkHold: a 2 MiB database dumped at 200 KiB 20 days ago is
// flagged; with keep_within 14d and keep_last 2, prune keeps the snapshot
// from before the drop (and the flagged one, the record of the hold) until
// the drop is accepted, then deletes both, and the acceptance with them.
func TestPruneShrinkHold(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t)
	before := takeGuarded(t, s, 30*24*time.Hour, 2<<20)
	flagged := takeGuarded(t, s, 20*24*time.Hour, 200<<10)
	if len(flagged.Shrunk) != 1 || flagged.Shrunk[0].Previous != before.ID {
		t.Fatalf("a 90%% drop: shrunk %+v", flagged.Shrunk)
	}
	takeGuarded(t, s, 2*24*time.Hour, 200<<10)
	takeGuarded(t, s, 24*time.Hour, 200<<10)

	var log bytes.Buffer
	rep, err := Prune(ctx, PruneOptions{Store: s, Policy: prunePolicy, Now: pruneNow, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Deleted) != 0 || rep.Kept() != 4 {
		t.Fatalf("deleted %v, kept %d; want all 4 kept", rep.Deleted, rep.Kept())
	}
	if want := fmt.Sprintf("kept snapshot %s: before the shrink of %s, until mbackup accept-shrink %s\n", before.ID, flagged.ID, flagged.ID); !strings.Contains(log.String(), want) {
		t.Errorf("prune's log lacks %q:\n%s", want, log.String())
	}
	if !slices.Equal(rep.Shrunk, []string{flagged.ID}) {
		t.Errorf("report's shrunk %v", rep.Shrunk)
	}

	if _, err := shrink.Accept(ctx, s, flagged, "root@backup", pruneNow); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	rep, err = Prune(ctx, PruneOptions{Store: s, Policy: prunePolicy, Now: pruneNow, Log: &log, DryRun: true})
	if err != nil || !slices.Equal(rep.Deleted, []string{before.ID, flagged.ID}) {
		t.Fatalf("dry run after acceptance: deleted %v, %v", rep.Deleted, err)
	}
	if _, err := s.Stat(ctx, shrink.AcceptedKey(flagged.ID)); err != nil {
		t.Fatalf("a dry run deleted the acceptance: %v", err)
	}
	rep, err = Prune(ctx, PruneOptions{Store: s, Policy: prunePolicy, Now: pruneNow})
	if err != nil || !slices.Equal(rep.Deleted, []string{before.ID, flagged.ID}) || len(rep.Shrunk) != 0 {
		t.Fatalf("after acceptance: deleted %v, shrunk %v, %v", rep.Deleted, rep.Shrunk, err)
	}
	if _, err := s.Stat(ctx, shrink.AcceptedKey(flagged.ID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the acceptance of a deleted snapshot: %v", err)
	}
	if entries, err := snapshot.List(ctx, s); err != nil || len(entries) != 2 {
		t.Errorf("left %d entries, %v", len(entries), err)
	}
}

// TestPruneAcceptancesUnlisted: when the acceptances cannot be listed
// (here shrink-accepted is a symbolic link to itself in a local store),
// prune deletes nothing.
func TestPruneAcceptancesUnlisted(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t)
	take(t, s, 30*24*time.Hour, StatusComplete)
	take(t, s, 20*24*time.Hour, StatusComplete)
	take(t, s, 10*24*time.Hour, StatusComplete)
	dir := filepath.Join(s.(*local.Store).Root(), strings.TrimSuffix(shrink.AcceptedRoot, "/"))
	if err := os.Symlink(filepath.Base(dir), dir); err != nil {
		t.Fatal(err)
	}
	rep, err := Prune(ctx, PruneOptions{Store: s, Policy: Policy{KeepLast: 1}, Now: pruneNow})
	if err == nil || !strings.Contains(err.Error(), "retention: prune: shrink: list acceptances: ") {
		t.Fatalf("Prune = %v; want the acceptances' listing error", err)
	}
	if len(rep.Deleted) != 0 {
		t.Errorf("deleted %v", rep.Deleted)
	}
	if entries, err := snapshot.List(ctx, s); err != nil || len(entries) != 3 {
		t.Errorf("left %d entries, %v", len(entries), err)
	}
}
