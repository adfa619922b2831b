package retention

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mbackup/internal/storage/b2"
	"mbackup/internal/storage/local"
	"mbackup/internal/storage/s3"
)

// Every store that can leave unfinished uploads behind has them swept.
var (
	_ unfinishedSweeper = (*b2.Store)(nil)
	_ unfinishedSweeper = (*s3.Store)(nil)
	_ unfinishedSweeper = (*local.Store)(nil)
)

// gate is a reader that yields one byte, then waits for open to close.
type gate struct {
	sent bool
	open chan struct{}
	read chan struct{}
}

func (g *gate) Read(p []byte) (int, error) {
	if !g.sent {
		g.sent = true
		p[0] = 'x'
		return 1, nil
	}
	close(g.read)
	<-g.open
	return 0, io.EOF
}

// TestPruneSweepsLocalTemporaryFiles: prune removes the temporary file a
// killed run left in a local store (old, unlocked), counts it and says so,
// and leaves alone the file of a Put under way.
func TestPruneSweepsLocalTemporaryFiles(t *testing.T) {
	root := t.TempDir()
	s, err := local.New(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	take(t, s, 30*24*time.Hour, StatusComplete)
	dead := filepath.Join(root, "snapshots", ".mbackup-tmp-dead")
	if err := os.WriteFile(dead, bytes.Repeat([]byte("x"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gate{open: make(chan struct{}), read: make(chan struct{})}
	done := make(chan error, 1)
	go func() { _, err := s.Put(ctx, "snapshots/live", g); done <- err }()
	<-g.read
	old := time.Now().Add(-48 * time.Hour)
	temps, _ := filepath.Glob(filepath.Join(root, "snapshots", ".mbackup-tmp-*"))
	for _, p := range temps {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	rep, err := Prune(ctx, PruneOptions{Store: s, Policy: prunePolicy, Now: pruneNow, DryRun: true, Log: &log})
	if err != nil || rep.Unfinished != 0 || !strings.Contains(log.String(), "would cancel unfinished uploads started more than") {
		t.Errorf("dry run: %+v, %v, log:\n%s", rep, err, log.String())
	}
	log.Reset()
	rep, err = Prune(ctx, PruneOptions{Store: s, Policy: prunePolicy, Now: pruneNow, Log: &log})
	if err != nil || rep.Unfinished != 1 || !strings.Contains(log.String(), "cancelled 1 unfinished uploads started more than 1d ago") {
		t.Errorf("prune: %+v, %v, log:\n%s", rep, err, log.String())
	}
	if _, err := os.Stat(dead); err == nil {
		t.Error("the dead run's temporary file is still there")
	}
	close(g.open)
	if err := <-done; err != nil {
		t.Errorf("the Put under way failed: %v", err)
	}
}
