// Package newfile writes the files that hold keys, secrets and drafted
// configurations: files that must not exist before and that only their
// owner may read.
//
// Invariants:
//   - Write creates path with mode 0600 (less the umask) and never opens
//     what is already there: an existing file, directory or symbolic link
//     (dangling or not) at path is an [ExistsError], and its target is
//     neither followed nor changed.
//   - A failed Write leaves no file at path: what it created is removed.
//   - The data is synced to disk before Write returns nil.
package newfile

import (
	"errors"
	"io/fs"
	"os"
)

// ExistsError is the error of Write when path already exists. It matches
// fs.ErrExist with errors.Is.
type ExistsError struct{ Path string }

func (e *ExistsError) Error() string { return e.Path + " already exists; refusing to overwrite it" }

// Is makes errors.Is(err, fs.ErrExist) true.
func (e *ExistsError) Is(target error) bool { return target == fs.ErrExist }

// Write creates path with mode 0600 and writes b, refusing to replace an
// existing file; a failed write leaves no file behind.
func Write(path string, b []byte) (err error) {
	// O_EXCL with O_CREATE fails on any existing name, a symbolic link
	// included: nothing is followed.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return &ExistsError{Path: path}
	}
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	if _, err = f.Write(b); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// Absent returns an [ExistsError] for the first of paths that exists (a
// symbolic link included, whatever it points to), nil when none does, or
// the error of looking.
func Absent(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return &ExistsError{Path: p}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
