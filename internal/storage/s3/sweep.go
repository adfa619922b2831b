package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// SweepUnfinished aborts the multipart uploads under the store's prefix
// that were started more than olderThan ago, and returns how many it
// aborted. They are what a Put leaves when its process is killed or cannot
// reach the server to abort: the server keeps (and bills) their parts.
// olderThan must exceed the longest Put of every process writing there, or
// uploads under way are aborted; 24h is a good value. Each page of the
// listing and each abort is a call bounded by CallTimeout. A failed abort
// does not stop the sweep; the first error is returned.
func (s *Store) SweepUnfinished(ctx context.Context, olderThan time.Duration) (int, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("s3: sweep unfinished uploads: age %v would abort uploads under way", olderThan)
	}
	cutoff := time.Now().Add(-olderThan)
	n, err := s.sweep(ctx, cutoff)
	if err != nil {
		return n, fmt.Errorf("s3: sweep unfinished uploads under %q: %w", s.cfg.Prefix, err)
	}
	return n, nil
}

// sweep pages through the uploads under the prefix and aborts those
// started before cutoff.
func (s *Store) sweep(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	var failed error
	keyMarker, idMarker := "", ""
	for {
		page, err := s.uploadsPage(ctx, keyMarker, idMarker)
		if err != nil {
			return n, errors.Join(failed, err)
		}
		for _, u := range page.Uploads {
			if !strings.HasPrefix(u.Key, s.cfg.Prefix) || !u.Initiated.Before(cutoff) {
				continue
			}
			if err := s.abort(ctx, u.Key, u.UploadID); err != nil {
				failed = errors.Join(failed, err)
				continue
			}
			n++
		}
		if !page.IsTruncated {
			return n, failed
		}
		if page.NextKeyMarker == keyMarker && page.NextUploadIDMarker == idMarker {
			return n, errors.Join(failed, errors.New("server listed a truncated page of uploads without a next marker"))
		}
		keyMarker, idMarker = page.NextKeyMarker, page.NextUploadIDMarker
	}
}

// uploadsPage lists one page of the multipart uploads under the prefix.
func (s *Store) uploadsPage(ctx context.Context, keyMarker, idMarker string) (minio.ListMultipartUploadsResult, error) {
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	page, err := s.core.ListMultipartUploads(cctx, s.cfg.Bucket, s.cfg.Prefix, keyMarker, idMarker, "", 1000)
	if err != nil {
		return page, fmt.Errorf("list multipart uploads: %w", s.cause(cctx, err, nil))
	}
	return page, nil
}

// abort aborts one upload; one already gone is fine.
func (s *Store) abort(ctx context.Context, name, id string) error {
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	err := s.core.AbortMultipartUpload(cctx, s.cfg.Bucket, name, id)
	var resp minio.ErrorResponse
	if err == nil || (errors.As(err, &resp) && resp.Code == "NoSuchUpload") {
		return nil
	}
	return fmt.Errorf("abort upload of %s: %w", name, s.cause(cctx, err, nil))
}
