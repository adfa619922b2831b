// Package local implements storage.Store on a directory of the local file
// system, the default store of a first run and of tests.
//
// Invariants: an object becomes visible only by an atomic rename of a fully
// written and fsynced temporary file (".mbackup-tmp-*" beside it, never
// listed), so a failed or cancelled Put leaves no object and an older object
// under the same key stays intact. A Put holds an exclusive flock on its
// temporary file while writing it; a killed Put leaves the file behind,
// unlocked, and SweepUnfinished removes it once its mtime is old enough. No
// other name is ever swept (the ".mbackup-lock" beside the objects stays). A key "a/b" is the file <root>/a/b; unlike
// an object store, a directory cannot hold both the object "a" and "a/b".
// There is one version per key, so Delete frees the space at once. New
// creates the root directory; Open, for readers, never does.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"mbackup/internal/stall"
	"mbackup/internal/storage"
)

const tmpPrefix = ".mbackup-tmp-"

// Store keeps objects as files under a root directory.
type Store struct {
	root string
}

var _ storage.Store = (*Store)(nil)

// New returns a store rooted at dir, creating it (0700) if needed.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local: open %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("local: open %s: %w", dir, err)
	}
	return &Store{root: abs}, nil
}

// Open returns the store rooted at dir, which must exist: it creates
// nothing, for a command that only reads. A missing directory is an error
// wrapping fs.ErrNotExist that names the absolute path.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local: open %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &missingError{abs}
	case err != nil:
		return nil, fmt.Errorf("local: open %s: %w", abs, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("local: store %s is not a directory", abs)
	}
	return &Store{root: abs}, nil
}

// missingError is Open's error for a store directory that does not exist.
type missingError struct{ dir string }

func (e *missingError) Error() string        { return "local: store " + e.dir + " does not exist" }
func (e *missingError) Is(target error) bool { return target == fs.ErrNotExist }

// Root returns the directory the store writes into.
func (s *Store) Root() string { return s.root }

func (s *Store) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// Put writes r to a temporary file beside the object, fsyncs it and renames
// it into place, then fsyncs the directory.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (storage.Object, error) {
	if err := storage.ValidKey(key); err != nil {
		return storage.Object{}, fmt.Errorf("local: put: %w", err)
	}
	obj, err := s.put(ctx, key, r)
	if err != nil {
		return storage.Object{}, fmt.Errorf("local: put %s: %w", key, err)
	}
	return obj, nil
}

func (s *Store) put(ctx context.Context, key string, r io.Reader) (storage.Object, error) {
	if err := ctx.Err(); err != nil {
		return storage.Object{}, err
	}
	dst := s.path(key)
	dir := filepath.Dir(dst)
	f, err := createTemp(dir)
	if err != nil {
		return storage.Object{}, err
	}
	// The lock tells SweepUnfinished that a live Put writes the file. Until
	// it is taken the file is new, and so too young to be swept.
	lockErr := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(f.Name())
			s.pruneEmpty(dir)
		}
	}()
	if lockErr != nil {
		return storage.Object{}, fmt.Errorf("lock %s: %w", f.Name(), lockErr)
	}
	n, err := io.Copy(f, stall.ContextReader(ctx, r))
	if err != nil {
		return storage.Object{}, err
	}
	if err := f.Sync(); err != nil {
		return storage.Object{}, err
	}
	if err := f.Close(); err != nil {
		return storage.Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.Object{}, err
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return storage.Object{}, err
	}
	committed = true
	if err := syncDir(dir); err != nil {
		return storage.Object{}, err
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return storage.Object{}, err
	}
	return storage.Object{Key: key, Size: n, Modified: fi.ModTime()}, nil
}

// createTemp creates the temporary file in dir, creating dir first. It
// tries twice because a concurrent Delete may remove an empty dir between
// MkdirAll and CreateTemp.
func createTemp(dir string) (*os.File, error) {
	var err error
	for range 2 {
		if err = os.MkdirAll(dir, 0o700); err != nil {
			continue
		}
		var f *os.File
		if f, err = os.CreateTemp(dir, tmpPrefix+"*"); err == nil {
			return f, nil
		}
	}
	return nil, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Get opens the object's file.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := storage.ValidKey(key); err != nil {
		return nil, fmt.Errorf("local: get: %w", err)
	}
	f, err := os.Open(s.path(key))
	if err == nil {
		var fi os.FileInfo
		if fi, err = f.Stat(); err == nil && !fi.Mode().IsRegular() {
			err = fs.ErrNotExist
		}
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("local: get %s: %w", key, notExist(err))
	}
	return f, nil
}

// Stat describes the object's file.
func (s *Store) Stat(ctx context.Context, key string) (storage.Object, error) {
	if err := storage.ValidKey(key); err != nil {
		return storage.Object{}, fmt.Errorf("local: stat: %w", err)
	}
	fi, err := os.Stat(s.path(key))
	if err == nil && !fi.Mode().IsRegular() {
		err = fs.ErrNotExist
	}
	if err != nil {
		return storage.Object{}, fmt.Errorf("local: stat %s: %w", key, notExist(err))
	}
	return storage.Object{Key: key, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

// notExist maps "a path component is a file" to fs.ErrNotExist: the key
// "a/b" does not exist when "a" is an object.
func notExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory") {
		return fmt.Errorf("%w (%v)", fs.ErrNotExist, err)
	}
	return err
}

// Delete removes the object's file and then any directories it leaves empty.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.ValidKey(key); err != nil {
		return fmt.Errorf("local: delete: %w", err)
	}
	p := s.path(key)
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
		return nil // "a" when only "a/b" exists: no such object
	}
	if err := os.Remove(p); err != nil && !errors.Is(notExist(err), fs.ErrNotExist) {
		return fmt.Errorf("local: delete %s: %w", key, err)
	}
	s.pruneEmpty(filepath.Dir(p))
	return nil
}

// pruneEmpty removes dir and its parents up to the root while they are empty.
func (s *Store) pruneEmpty(dir string) {
	for ; dir != s.root && strings.HasPrefix(dir, s.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil { // not empty, or already gone
			return
		}
	}
}

// List walks only the directories that can hold keys with prefix, visiting
// entries in the byte order of the keys they hold (a directory "a" sorts as
// "a/"), so memory is bounded by the largest directory, not the store.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.Object) error) error {
	start := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = prefix[:i]
	}
	err := s.walk(ctx, start, prefix, fn)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (s *Store) walk(ctx context.Context, dirKey, prefix string, fn func(storage.Object) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(s.path(dirKey))
	if err != nil {
		if errors.Is(notExist(err), fs.ErrNotExist) && dirKey != "" {
			return nil
		}
		return fmt.Errorf("local: list %s: %w", prefix, err)
	}
	sortKey := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(sortKey(a), sortKey(b)) })
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".mbackup-") {
			continue
		}
		key := e.Name()
		if dirKey != "" {
			key = dirKey + "/" + key
		}
		if err := s.visit(ctx, e, key, prefix, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) visit(ctx context.Context, e fs.DirEntry, key, prefix string, fn func(storage.Object) error) error {
	if e.IsDir() {
		if strings.HasPrefix(key+"/", prefix) || strings.HasPrefix(prefix, key+"/") {
			return s.walk(ctx, key, prefix, fn)
		}
		return nil
	}
	if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
		return nil
	}
	fi, err := e.Info()
	if errors.Is(err, fs.ErrNotExist) {
		return nil // deleted while listing
	}
	if err != nil {
		return fmt.Errorf("local: list %s: %w", prefix, err)
	}
	return fn(storage.Object{Key: key, Size: fi.Size(), Modified: fi.ModTime()})
}
