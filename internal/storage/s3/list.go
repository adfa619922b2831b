package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/storage"
)

// List calls fn for every object under prefix in ascending key order. It
// pages through ListObjectsV2 one request of up to 1000 keys at a time, so
// memory does not grow with the listing. Each page, retries included, must
// arrive within CallTimeout: the deadline runs only while List waits for
// the server, never while fn runs. Objects whose key is not a valid storage
// key (a console's "folder/" placeholder) are not part of the store and are
// skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.Object) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(s.cfg.CallTimeout, func() { cancel(s.errTimeout()) })
	defer timer.Stop()
	noOwner := false
	opts := minio.ListObjectsOptions{Prefix: s.cfg.Prefix + prefix, Recursive: true, FetchOwner: &noOwner}
	last := ""
	// ListObjectsIter runs in this goroutine: leaving the loop stops it.
	for info := range s.client.ListObjectsIter(ctx, s.cfg.Bucket, opts) {
		if info.Err != nil {
			return listError(prefix, s.cause(ctx, info.Err, nil))
		}
		key, ok := strings.CutPrefix(info.Key, s.cfg.Prefix)
		if !ok || storage.ValidKey(key) != nil {
			continue
		}
		if last != "" && key <= last {
			return listError(prefix, fmt.Errorf("server listed %q after %q, not in ascending order", key, last))
		}
		last = key
		if !timer.Stop() { // the deadline passed as the page arrived
			return listError(prefix, s.errTimeout())
		}
		if err := fn(storage.Object{Key: key, Size: info.Size, Modified: info.LastModified}); err != nil {
			return err
		}
		timer.Reset(s.cfg.CallTimeout)
	}
	// minio-go ends a listing silently when its context is done: without
	// this check a cancelled List would look complete.
	if ctx.Err() != nil {
		return listError(prefix, context.Cause(ctx))
	}
	return nil
}

// listError names the listed prefix, if any, in err.
func listError(prefix string, err error) error {
	if prefix == "" {
		return fmt.Errorf("s3: list: %w", err)
	}
	return fmt.Errorf("s3: list %s: %w", prefix, err)
}

// versioned reports whether the bucket's versioning is enabled or suspended:
// either way it may hold older versions. A server without the versioning
// API keeps no versions.
func (s *Store) versioned(ctx context.Context) (bool, error) {
	vc, err := s.client.GetBucketVersioning(ctx, s.cfg.Bucket)
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && (resp.Code == "NotImplemented" || resp.StatusCode == http.StatusNotImplemented) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("bucket versioning: %w", err)
	}
	return vc.Enabled() || vc.Suspended(), nil
}
