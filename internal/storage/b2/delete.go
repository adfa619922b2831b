package b2

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Backblaze/blazer/b2"
	"github.com/Backblaze/blazer/base"

	"mbackup/internal/storage"
)

// deletePasses bounds how often Delete lists the versions of a key again
// after deleting some: versions uploaded meanwhile are deleted too, but a
// key that keeps being written is an error.
const deletePasses = 3

// Delete removes every version of key (uploads and hide markers), listing
// them with b2_list_file_versions and deleting each with
// b2_delete_file_version, then listing again until none is left. Each call
// runs within CallTimeout. A missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.ValidKey(key); err != nil {
		return fmt.Errorf("b2: delete: %w", err)
	}
	for range deletePasses {
		n, err := s.deleteVersions(ctx, s.name(key))
		if err != nil {
			return s.fail("delete", key, ctx, err)
		}
		if n == 0 {
			return nil
		}
	}
	return s.fail("delete", key, ctx, fmt.Errorf("versions still present after %d passes: is the key being written?", deletePasses))
}

// deleteVersions deletes the versions of name found by one listing and
// returns how many it deleted. All versions of name come first among the
// names it prefixes, so the listing stops at the first other name. Pages
// of 1000 make blazer's early end of a listing (v0.7.2 ends it silently
// at a page holding only unfinished large files) practically unreachable
// here, and the next pass lists again anyway.
func (s *Store) deleteVersions(ctx context.Context, name string) (int, error) {
	p := s.newPager(ctx)
	defer p.close()
	it := s.current().List(p.ctx, b2.ListPrefix(name), b2.ListHidden(), b2.ListPageSize(1000))
	n := 0
	for p.next(it) {
		o := it.Object()
		if o.Name() != name {
			break
		}
		if err := s.deleteVersion(ctx, o); err != nil {
			return n, err
		}
		n++
	}
	if err := it.Err(); err != nil {
		return n, cause(p.ctx, err)
	}
	return n, nil
}

// deleteVersion deletes one listed version; one already gone is fine.
func (s *Store) deleteVersion(ctx context.Context, o *b2.Object) error {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	err := o.Delete(ctx)
	if err == nil || b2.IsNotExist(err) {
		return nil
	}
	if code, msgCode, _ := base.MsgCode(err); code == http.StatusNotFound ||
		(code == http.StatusBadRequest && msgCode == "file_not_present") {
		return nil
	}
	return cause(ctx, err)
}

// SweepUnfinished cancels the unfinished large files under the store's
// prefix that were started more than olderThan ago. olderThan must exceed
// the UploadTimeout of every process writing there, or uploads under way
// are cancelled; 24h is a good value. They are what a failed Put leaves when
// it cannot reach B2 to cancel its large file; B2 bills their parts. It
// returns how many it cancelled. Each call runs within CallTimeout.
func (s *Store) SweepUnfinished(ctx context.Context, olderThan time.Duration) (int, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("b2: sweep unfinished large files: age %v would cancel uploads under way", olderThan)
	}
	cutoff := time.Now().Add(-olderThan)
	n, err := s.cancelUnfinished(ctx, s.current(), func(name string, started time.Time) bool {
		return strings.HasPrefix(name, s.cfg.Prefix) && started.Before(cutoff)
	})
	if err != nil {
		return n, s.fail("sweep unfinished large files under", s.cfg.Prefix, ctx, err)
	}
	return n, nil
}

// cancelUnfinished cancels every unfinished large file of the bucket for
// which match(name, start time) holds, and returns how many it cancelled.
// Blazer lists unfinished files of the whole bucket (it sends no prefix),
// 100 a page. It goes on after a failed cancel and returns the first error.
func (s *Store) cancelUnfinished(ctx context.Context, bucket *b2.Bucket, match func(string, time.Time) bool) (int, error) {
	p := s.newPager(ctx)
	defer p.close()
	it := bucket.List(p.ctx, b2.ListUnfinished(), b2.ListPageSize(100))
	n := 0
	var first error
	for p.next(it) {
		o := it.Object()
		attrs, err := o.Attrs(p.ctx)
		if err != nil || !match(o.Name(), attrs.UploadTimestamp) {
			first = firstErr(first, err)
			continue
		}
		cctx, cancel := s.callContext(ctx)
		err = o.Cancel(cctx)
		if err == nil {
			n++
		}
		first = firstErr(first, cause(cctx, err))
		cancel()
	}
	if err := it.Err(); err != nil {
		return n, errors.Join(first, cause(p.ctx, err))
	}
	return n, first
}

// firstErr returns the first non-nil error of a and b.
func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
