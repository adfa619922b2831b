package filesdump

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"mbackup/internal/artifact"
	"mbackup/internal/config"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage/local"
)

// takeFiles takes a snapshot of cfg's files into a local store.
func takeFiles(t *testing.T, files ...string) (*snapshot.Manifest, *local.Store, *age.X25519Identity, error) {
	t.Helper()
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	tk := &snapshot.Taker{Store: s, Recipients: []age.Recipient{id.Recipient()},
		RecipientIDs: []string{id.Recipient().String()}, Host: "test", Tool: "mbackup test"}
	m, err := tk.Take(context.Background(), Engine{}.Jobs(context.Background(), &config.Config{Files: files}))
	return m, s, id, err
}

// TestSnapshotPartial: a missing entry is one failed job; the other entry
// is stored, with its files' sums and the secrets keys by name only.
func TestSnapshotPartial(t *testing.T) {
	root := tree(t, t.TempDir())
	missing := filepath.Join(t.TempDir(), "gone")
	m, s, _, err := takeFiles(t, root, missing)
	if !errors.Is(err, snapshot.ErrPartial) || m == nil {
		t.Fatalf("take: %v", err)
	}
	if len(m.Artifacts) != 1 || m.Artifacts[0].Name != root || m.Artifacts[0].Component != "files" ||
		artifact.KindOf(m.Artifacts[0].Key) != artifact.Tar {
		t.Fatalf("artifacts %+v", m.Artifacts)
	}
	if len(m.Failed) != 1 || m.Failed[0].Name != missing || !strings.Contains(m.Failed[0].Reason, "no such file or directory") {
		t.Errorf("failed %+v", m.Failed)
	}
	if a := m.Artifacts[0]; a.FileCount != 4 || len(a.Files) != 5 {
		t.Errorf("artifact info %+v", a.Info)
	}
	rc, err := s.Get(context.Background(), snapshot.ManifestKey(m.ID))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Contains(raw, []byte(`"keys": [`)) || !bytes.Contains(raw, []byte(`"ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY"`)) {
		t.Errorf("manifest lacks the keys' names: %s", raw)
	}
	for k, v := range envSecrets {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("the manifest holds the value of %s", k)
		}
	}
}
