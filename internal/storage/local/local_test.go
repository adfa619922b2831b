package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mbackup/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	s, err := New(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	storagetest.Run(t, s, storagetest.Options{PartSize: 1 << 20})
	leftovers(t, s.Root())
}

// leftovers fails if a temporary file or an empty directory was left behind.
func leftovers(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), tmpPrefix) {
			t.Errorf("temporary file left behind: %s", p)
		}
		if d.IsDir() && p != root {
			if ents, _ := os.ReadDir(p); len(ents) == 0 {
				t.Errorf("empty directory left behind: %s", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestUnwritableRoot(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(filepath.Join(file, "store")); err == nil {
		t.Fatal("New under a regular file succeeded")
	}
	s, err := New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	// "a" is an object, so "a/b" cannot be created, and reading it is not-found.
	if _, err := s.Put(context.Background(), "a", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), "a/b", strings.NewReader("y")); err == nil {
		t.Fatal("Put(a/b) over the object a succeeded")
	}
	if _, err := s.Stat(context.Background(), "a/b"); err == nil || !strings.Contains(err.Error(), "not exist") {
		t.Fatalf("Stat(a/b) = %v; want not-exist", err)
	}
}
