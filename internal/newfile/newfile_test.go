package newfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key")
	if err := Write(p, []byte("secret\n")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(p); string(b) != "secret\n" {
		t.Errorf("holds %q", b)
	}
}

// TestWriteRefuses: whatever is at the path (a file of another mode, a
// symbolic link to a file, a dangling one, a directory) stays as it was,
// and so does a link's target.
func TestWriteRefuses(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	dangling := filepath.Join(dir, "dangling")
	sub := filepath.Join(dir, "sub")
	for _, err := range []error{os.Symlink(target, link), os.Symlink(filepath.Join(dir, "nowhere"), dangling), os.Mkdir(sub, 0o700)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{target, link, dangling, sub} {
		err := Write(p, []byte("new"))
		var ee *ExistsError
		if !errors.As(err, &ee) || ee.Path != p || !errors.Is(err, fs.ErrExist) {
			t.Errorf("Write(%s) = %v, want an ExistsError", filepath.Base(p), err)
		}
		if err := Absent(filepath.Join(dir, "free"), p); !errors.As(err, &ee) || ee.Path != p {
			t.Errorf("Absent(%s) = %v", filepath.Base(p), err)
		}
	}
	fi, err := os.Stat(target)
	if b, _ := os.ReadFile(target); string(b) != "keep" || err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the target changed: %q, %v", b, fi.Mode())
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); err == nil {
		t.Error("a dangling link was followed")
	}
	if err := Absent(filepath.Join(dir, "free")); err != nil {
		t.Errorf("Absent of a free name: %v", err)
	}
}

func TestWriteNoDirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing", "key")
	if err := Write(p, []byte("x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Write into a missing directory: %v", err)
	}
	if err := Absent(filepath.Join(t.TempDir(), "f", "x")); err != nil {
		t.Errorf("Absent below a missing directory: %v", err)
	}
}
