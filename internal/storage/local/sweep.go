package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// SweepUnfinished removes the temporary files of Puts that will never
// finish (their process was killed): files named ".mbackup-tmp-*" anywhere
// in the store, last modified more than olderThan ago, that no live Put
// holds locked. It returns how many it removed. olderThan must be positive;
// 24h is a good value. It goes on after a file it cannot remove and returns
// the first error.
func (s *Store) SweepUnfinished(ctx context.Context, olderThan time.Duration) (int, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("local: sweep unfinished uploads: age %v would remove uploads under way", olderThan)
	}
	cutoff := time.Now().Add(-olderThan)
	n := 0
	var failed error
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		removed, err := s.sweepFile(p, cutoff)
		if removed {
			n++
		}
		failed = errors.Join(failed, err)
		return nil
	})
	if err = errors.Join(failed, err); err != nil {
		return n, fmt.Errorf("local: sweep unfinished uploads in %s: %w", s.root, err)
	}
	return n, nil
}

// sweepFile removes the temporary file p if it was last modified before
// cutoff and no live Put holds its lock, and reports whether it did.
func (s *Store) sweepFile(p string, cutoff time.Time) (bool, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // renamed into place or removed meanwhile
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() || !fi.ModTime().Before(cutoff) {
		return false, nil
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil // a live Put is writing it
		}
		return false, fmt.Errorf("lock %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	s.pruneEmpty(filepath.Dir(p))
	return true, nil
}
