package local

import (
	"context"
	"errors"
	"io/fs"
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

// TestOpenCreatesNothing: Open refuses a missing directory or a file,
// naming the absolute path, and creates nothing; it opens one that exists.
func TestOpenCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, tt := range []struct{ name, path, err string }{
		{"missing", "missing/store", "local: store " + filepath.Join(dir, "missing/store") + " does not exist"},
		{"a file", "file", "local: store " + file + " is not a directory"},
		{"under a file", "file/store", "local: open " + filepath.Join(file, "store") + ": stat " + filepath.Join(file, "store") + ": not a directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.path)
			if err == nil || err.Error() != tt.err || errors.Is(err, fs.ErrNotExist) != (tt.name == "missing") {
				t.Fatalf("Open(%q) = %v, want %q", tt.path, err, tt.err)
			}
			if _, err := os.Stat(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
				t.Errorf("Open created something: %v", err)
			}
		})
	}
	s, err := Open(".")
	if err != nil || s.Root() != dir {
		t.Fatalf("Open(.) = %v, %v; want the store at %s", s, err, dir)
	}
}
