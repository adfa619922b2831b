package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/storage"
)

var _ storage.Versioned = (*Store)(nil)

// Versions calls fn for every version of every key under prefix, delete
// markers included (Hidden), keys in ascending order and newest version
// first within a key. In a bucket with Object Lock each version's
// retention is read too, one GetObjectRetention request per version (S3
// lists no retention). The listing is held in memory and sorted before
// fn is called: versitygw sends a page's delete markers before its
// versions. Each page, and each retention request, must arrive within
// CallTimeout. In a bucket that never had versioning, every object is one
// version, of id "null".
func (s *Store) Versions(ctx context.Context, prefix string, fn func(storage.Version) error) error {
	vs, err := s.listVersions(ctx, s.cfg.Prefix+prefix, func(string) bool { return true })
	if err != nil {
		return listError(prefix, err)
	}
	locked, err := s.bucketLocked(ctx)
	if err != nil {
		return listError(prefix, err)
	}
	for _, info := range vs {
		v := storage.Version{
			Object: storage.Object{Key: strings.TrimPrefix(info.Key, s.cfg.Prefix), Size: info.Size, Modified: info.LastModified},
			ID:     info.VersionID, Hidden: info.IsDeleteMarker,
		}
		if locked && !v.Hidden {
			if v.LockMode, v.RetainUntil, err = s.retention(ctx, info.Key, info.VersionID); err != nil {
				return listError(prefix, fmt.Errorf("%s version %s: %w", v.Key, v.ID, err))
			}
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

// listVersions lists the versions and delete markers of the objects whose
// name starts with namePrefix, is a valid key under the store's prefix and
// passes keep, sorted by name and newest first within a name (see
// byNameNewestFirst). Each page must arrive within CallTimeout.
func (s *Store) listVersions(ctx context.Context, namePrefix string, keep func(name string) bool) ([]minio.ObjectInfo, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(s.cfg.CallTimeout, func() { cancel(s.errTimeout()) })
	defer timer.Stop()
	var vs []minio.ObjectInfo
	opts := minio.ListObjectsOptions{Prefix: namePrefix, Recursive: true, WithVersions: true}
	for info := range s.client.ListObjectsIter(ctx, s.cfg.Bucket, opts) {
		if info.Err != nil {
			return nil, fmt.Errorf("list versions: %w", s.cause(ctx, info.Err, nil))
		}
		timer.Reset(s.cfg.CallTimeout)
		key, ok := strings.CutPrefix(info.Key, s.cfg.Prefix)
		if ok && storage.ValidKey(key) == nil && keep(info.Key) {
			vs = append(vs, info)
		}
	}
	// minio-go ends a listing silently when its context is done.
	if ctx.Err() != nil {
		return nil, fmt.Errorf("list versions: %w", context.Cause(ctx))
	}
	slices.SortStableFunc(vs, byNameNewestFirst)
	return vs, nil
}

// byNameNewestFirst orders versions by name, then the latest first, then
// by time, newest first; the listing's order breaks ties (stable sort).
func byNameNewestFirst(a, b minio.ObjectInfo) int {
	if c := strings.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	if a.IsLatest != b.IsLatest {
		if a.IsLatest {
			return -1
		}
		return 1
	}
	return b.LastModified.Compare(a.LastModified)
}

// bucketLocked reports whether the bucket has Object Lock enabled.
func (s *Store) bucketLocked(ctx context.Context) (bool, error) {
	enabled, err := s.ObjectLock(ctx)
	return enabled, err
}

// ObjectLock reports whether the bucket has Object Lock enabled, with one
// GetObjectLockConfiguration request within CallTimeout. A bucket without
// a lock configuration, or a server without the API, has not.
func (s *Store) ObjectLock(ctx context.Context) (bool, error) {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	enabled, _, _, _, err := s.client.GetObjectLockConfig(ctx, s.cfg.Bucket)
	var resp minio.ErrorResponse
	switch {
	case err == nil:
		return enabled == "Enabled", nil
	case errors.As(err, &resp) && (strings.Contains(resp.Code, "ObjectLock") || resp.Code == "NotImplemented" ||
		resp.StatusCode == http.StatusNotImplemented || strings.Contains(resp.Message, "Object Lock configuration does not exist")):
		return false, nil
	}
	return false, fmt.Errorf("s3: bucket %s object lock configuration: %w", s.cfg.Bucket, s.cause(ctx, err, nil))
}

// GetVersion opens version id of key. The response headers have arrived
// when it returns, as with Get. A missing id, a delete marker, or an id
// of another key is fs.ErrNotExist. In a bucket without versioning, the
// "null" version is the object.
func (s *Store) GetVersion(ctx context.Context, key, id string) (io.ReadCloser, error) {
	if err := storage.ValidKey(key); err != nil {
		return nil, fmt.Errorf("s3: get version: %w", err)
	}
	r, err := s.get(ctx, key, minio.GetObjectOptions{VersionID: id})
	if errors.Is(err, fs.ErrNotExist) && id == nullVersion {
		r, err = s.getUnversioned(ctx, key)
	}
	if err != nil {
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && versionAbsent(resp) {
			err = fmt.Errorf("%w: %v", fs.ErrNotExist, err)
		}
		return nil, fmt.Errorf("s3: get %s version %s: %w", key, id, err)
	}
	return r, nil
}

// nullVersion is the id S3 lists for an object written while the bucket
// had no versioning.
const nullVersion = "null"

// getUnversioned opens key in a bucket that never had versioning, where
// versitygw does not find the "null" version Versions lists.
func (s *Store) getUnversioned(ctx context.Context, key string) (io.ReadCloser, error) {
	cctx, cancel := s.callContext(ctx)
	versioned, err := s.versioned(cctx)
	cancel()
	switch {
	case err != nil:
		return nil, err
	case versioned:
		return nil, fs.ErrNotExist
	}
	return s.get(ctx, key, minio.GetObjectOptions{})
}

// versionAbsent tells the answers to a GET of a version that is not an
// object's: 405 for a delete marker, 400 for an id the server cannot
// parse (versitygw), NoSuchVersion for an unknown one.
func versionAbsent(resp minio.ErrorResponse) bool {
	return resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusBadRequest ||
		resp.Code == "NoSuchVersion" || resp.Code == "InvalidArgument"
}
