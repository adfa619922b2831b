package s3

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/storage"
)

// deletePasses bounds how often Delete lists the versions of a key: a
// lock-configured store needs two (hide, then remove the marker once the
// rest is gone).
const deletePasses = 3

// Delete removes key, within CallTimeout. In a bucket whose versioning is
// or was enabled, every version and delete marker of the key is removed,
// so its space is freed; otherwise one DELETE does it. A missing key is not
// an error.
//
// Versions under Object Lock retention stay: S3 refuses their deletion.
// Delete deletes the others, leaves a delete marker as the newest version
// (so the key leaves Get, Stat and List and no older version comes back
// into view) and returns a wrapped *storage.LockedError with the latest
// retain-until it can read. With Config.Lock the marker is put first, as
// the b2 store hides first. A later Delete, after that date, removes the
// rest.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.ValidKey(key); err != nil {
		return fmt.Errorf("s3: delete: %w", err)
	}
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	versioned, err := s.versioned(ctx)
	if err == nil && versioned {
		err = s.deleteVersions(ctx, key, s.cfg.Prefix+key)
	} else if err == nil {
		err = s.client.RemoveObject(ctx, s.cfg.Bucket, s.cfg.Prefix+key, minio.RemoveObjectOptions{})
	}
	var locked *storage.LockedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &locked):
		return fmt.Errorf("s3: delete %s: %w", key, err)
	}
	if err = s.cause(ctx, err, nil); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("s3: delete %s: %w", key, err)
}

// deleteVersions removes every version and delete marker of name (the
// store's key), but those under retention; see Delete.
func (s *Store) deleteVersions(ctx context.Context, key, name string) error {
	for range deletePasses {
		vs, err := s.versionsOf(ctx, name)
		if err != nil || len(vs) == 0 {
			return err
		}
		hid := false
		if s.cfg.Lock.Mode != "" && !vs[0].IsDeleteMarker {
			if err := s.hide(ctx, name); err != nil {
				return err
			}
			hid = true
		}
		refused, err := s.deleteListed(ctx, name, vs)
		if err != nil {
			return err
		}
		if len(refused) > 0 {
			return s.lockedError(ctx, key, name, vs[0].IsDeleteMarker || hid, refused)
		}
		if !hid {
			return nil
		}
	}
	return fmt.Errorf("versions still present after %d passes: is the key being written?", deletePasses)
}

// deleteListed deletes the versions vs of name, newest first, and returns
// those refused by their retention. A delete marker that is the newest
// version is deleted last, and only when nothing was refused.
func (s *Store) deleteListed(ctx context.Context, name string, vs []minio.ObjectInfo) ([]minio.ObjectInfo, error) {
	var refused []minio.ObjectInfo
	for i, v := range vs {
		if i == 0 && v.IsDeleteMarker {
			continue
		}
		ok, err := s.deleteVersion(ctx, name, v.VersionID)
		if err != nil {
			return nil, err
		}
		if !ok {
			refused = append(refused, v)
		}
	}
	if len(refused) == 0 && vs[0].IsDeleteMarker {
		if _, err := s.deleteVersion(ctx, name, vs[0].VersionID); err != nil {
			return nil, err
		}
	}
	return refused, nil
}

// deleteVersion deletes one version; one already gone is fine, one
// refused because of its retention is reported as not deleted.
func (s *Store) deleteVersion(ctx context.Context, name, id string) (deleted bool, err error) {
	err = s.client.RemoveObject(ctx, s.cfg.Bucket, name, minio.RemoveObjectOptions{VersionID: id})
	switch {
	case err == nil, errors.Is(s.cause(ctx, err, nil), fs.ErrNotExist):
		return true, nil
	case isLockRefusal(err):
		return false, nil
	}
	return false, fmt.Errorf("version %s: %w", id, err)
}

// hide makes a delete marker the newest version of name.
func (s *Store) hide(ctx context.Context, name string) error {
	if err := s.client.RemoveObject(ctx, s.cfg.Bucket, name, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("delete marker: %w", err)
	}
	return nil
}

// lockedError hides name unless hidden and returns the *LockedError of
// the refused versions, with the latest retain-until their HEAD tells
// (zero when none could be read).
func (s *Store) lockedError(ctx context.Context, key, name string, hidden bool, refused []minio.ObjectInfo) error {
	if !hidden {
		if err := s.hide(ctx, name); err != nil {
			return err
		}
	}
	var until time.Time
	for _, v := range refused {
		if _, t, err := s.retention(ctx, name, v.VersionID); err == nil && t.After(until) {
			until = t
		}
	}
	return &storage.LockedError{Key: key, Until: until}
}

// versionsOf lists the versions and delete markers of name, the latest
// first. Longer names it prefixes are listed too and left out: versitygw
// sends a page's delete markers first, so the listing cannot stop at the
// first other name.
func (s *Store) versionsOf(ctx context.Context, name string) ([]minio.ObjectInfo, error) {
	return s.listVersions(ctx, name, func(n string) bool { return n == name })
}
