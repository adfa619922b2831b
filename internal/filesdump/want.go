package filesdump

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"strings"

	"mbackup/internal/dump"
)

// want is what the manifest recorded of one files artifact: the entry's
// path and every regular file and symlink below it. A tar is held against
// it entry by entry (see member) and as a whole (see done).
type want struct {
	entry string
	files map[string]dump.FileSum
	seen  map[string]bool
}

// newWant checks the manifest's list for the artifact of entry: every
// path absolute, clean, at or below entry, and listed once.
func newWant(entry string, info dump.Info) (*want, error) {
	if !cleanAbs(entry) {
		return nil, fmt.Errorf("artifact name %q is not a clean absolute path", entry)
	}
	w := &want{entry: entry, files: map[string]dump.FileSum{}, seen: map[string]bool{}}
	for _, f := range info.Files {
		switch {
		case !cleanAbs(f.Path) || !below(f.Path, entry):
			return nil, fmt.Errorf("the manifest lists %q, which is not a clean path at or below %s", f.Path, entry)
		case w.files[f.Path].Path != "":
			return nil, fmt.Errorf("the manifest lists %s twice", f.Path)
		}
		w.files[f.Path] = f
	}
	return w, nil
}

func cleanAbs(p string) bool {
	return path.IsAbs(p) && path.Clean(p) == p && !strings.ContainsRune(p, 0)
}

// below reports whether p is dir or below it (both clean and absolute).
func below(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// member checks one tar header against the manifest and returns the
// absolute path it stands for.
func (w *want) member(h *tar.Header) (string, error) {
	p, err := w.pathOf(h.Name)
	if err != nil {
		return "", err
	}
	if w.seen[p] {
		return "", fmt.Errorf("tar entry %q: %s appears twice", h.Name, p)
	}
	w.seen[p] = true
	f, listed := w.files[p]
	switch h.Typeflag {
	case tar.TypeDir:
		if listed {
			return "", fmt.Errorf("tar entry %q: a directory, the manifest lists a file", h.Name)
		}
	case tar.TypeReg:
		if sparse(h) {
			return "", fmt.Errorf("tar entry %q: a sparse file, which a backup never writes: refused", h.Name)
		}
		if !listed || f.Link != "" || f.SHA256 == "" {
			return "", fmt.Errorf("tar entry %q: a file the manifest does not list: refused", h.Name)
		}
		if h.Size != f.Size {
			return "", fmt.Errorf("tar entry %q: %d bytes, the manifest says %d", h.Name, h.Size, f.Size)
		}
	case tar.TypeSymlink:
		if !listed || f.Link == "" || f.Link != h.Linkname {
			return "", fmt.Errorf("tar entry %q: a symlink to %q the manifest does not list: refused", h.Name, h.Linkname)
		}
	default:
		return "", fmt.Errorf("tar entry %q: type %q is never restored (only files, directories and symlinks)", h.Name, h.Typeflag)
	}
	return p, nil
}

// sparse reports whether h is a sparse file (PAX GNU.sparse records): its
// size is not bounded by the tar's, so reading it could yield terabytes
// of zeros from a few bytes.
func sparse(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// pathOf is the absolute path of a tar name: relative, without "." or
// ".." segments, at or below the entry.
func (w *want) pathOf(name string) (string, error) {
	n := strings.TrimSuffix(name, "/")
	switch {
	case n == "" || strings.HasPrefix(n, "/"):
		return "", fmt.Errorf("tar entry %q: an absolute or empty name: refused", name)
	case strings.ContainsRune(n, 0):
		return "", fmt.Errorf("tar entry %q: a NUL byte in the name: refused", name)
	}
	for _, seg := range strings.Split(n, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("tar entry %q: a %q segment in the name: refused", name, seg)
		}
	}
	p := "/" + n
	if !below(p, w.entry) {
		return "", fmt.Errorf("tar entry %q: outside %s, the artifact's path: refused", name, w.entry)
	}
	return p, nil
}

// done fails when a file or symlink the manifest lists was not in the tar.
func (w *want) done() error {
	var lacking []string
	for p := range w.files {
		if !w.seen[p] {
			lacking = append(lacking, p)
		}
	}
	if len(lacking) > 0 {
		return fmt.Errorf("the tar lacks %s, which the manifest lists", list(sorted(lacking)))
	}
	return nil
}

// errSum is a file whose bytes do not match the manifest.
var errSum = errors.New("its bytes do not match the manifest's sha256")
