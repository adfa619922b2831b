package b2

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/Backblaze/blazer/b2"

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
//
// Versions under Object Lock retention stay: Delete deletes the others,
// makes sure a hide marker is the newest version (so the key leaves Get,
// Stat and List, and an older locked version does not come back into
// view) and returns a *storage.LockedError with the latest retain-until.
// A later Delete, after that date, removes the rest.
//
// With a key that lacks deleteFiles (Hides), Delete only hides the key
// with b2_hide_file, which needs writeFiles: its versions stay until a
// lifecycle rule (daysFromHidingToDeleting) removes them.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.ValidKey(key); err != nil {
		return fmt.Errorf("b2: delete: %w", err)
	}
	name := s.name(key)
	if s.Hides() {
		vs, err := s.versionsOf(ctx, name)
		if err == nil && len(vs) > 0 && vs[0].Action == "upload" {
			err = s.hide(ctx, name)
		}
		if err != nil {
			return s.fail("delete (hide)", key, ctx, err)
		}
		return nil
	}
	for range deletePasses {
		n, until, err := s.deletePass(ctx, name)
		if err != nil {
			return s.fail("delete", key, ctx, err)
		}
		if n == 0 && until != nil {
			return fmt.Errorf("b2: delete %s: %w", key, &storage.LockedError{Key: key, Until: *until})
		}
		if n == 0 {
			return nil
		}
	}
	return s.fail("delete", key, ctx, fmt.Errorf("versions still present after %d passes: is the key being written?", deletePasses))
}

// Hides reports whether Delete hides keys instead of deleting them: the
// key lacks the deleteFiles capability.
func (s *Store) Hides() bool {
	se := s.sess.get()
	return se != nil && !slices.Contains(se.caps, "deleteFiles")
}

// errEndOfName stops a listing at the first version of another name.
var errEndOfName = errors.New("end of name")

// versionsOf lists the versions of name, newest first. They come first
// among the names it prefixes, so the listing stops at the first other
// name.
func (s *Store) versionsOf(ctx context.Context, name string) ([]fileVersion, error) {
	var vs []fileVersion
	err := s.listVersions(ctx, name, func(f fileVersion) error {
		if f.Name != name {
			return errEndOfName
		}
		vs = append(vs, f)
		return nil
	})
	if err != nil && err != errEndOfName {
		return nil, err
	}
	return vs, nil
}

// deletePass deletes the versions of name found by one listing that are
// not under retention and returns how many it deleted and, when some are
// retained, the latest retain-until. While versions stay retained, the
// newest version is kept as (or made) a hide marker.
func (s *Store) deletePass(ctx context.Context, name string) (int, *time.Time, error) {
	vs, err := s.versionsOf(ctx, name)
	if err != nil {
		return 0, nil, err
	}
	now := s.now()
	var until *time.Time
	for _, v := range vs {
		if _, t := v.retention(); t.After(now) && (until == nil || t.After(*until)) {
			until = &t
		}
	}
	if until != nil && vs[0].Action == "upload" {
		// Hidden first, so that no older version comes into view.
		if err := s.hide(ctx, name); err != nil {
			return 0, until, err
		}
	}
	n, locked := 0, false
	for i, v := range vs {
		if _, t := v.retention(); t.After(now) || until != nil && i == 0 && v.Action == "hide" {
			continue
		}
		refused, err := s.deleteVersion(ctx, v)
		switch {
		case err != nil:
			return n, until, err
		case refused && until == nil: // retention the key may not read
			zero := time.Time{}
			until, locked = &zero, true
		case !refused:
			n++
		}
	}
	if locked && len(vs) > 0 && vs[0].Action == "upload" {
		if err := s.hide(ctx, name); err != nil {
			return n, until, err
		}
	}
	return n, until, nil
}

// deleteVersion deletes one listed version; one already gone is fine, one
// that B2 refuses because of its retention is reported as locked.
func (s *Store) deleteVersion(ctx context.Context, v fileVersion) (locked bool, err error) {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	err = s.call(ctx, "b2_delete_file_version", map[string]any{"fileName": v.Name, "fileId": v.ID}, &struct{}{})
	switch {
	case err == nil, isCode(err, http.StatusBadRequest, "file_not_present"), isCode(err, http.StatusNotFound, "not_found"):
		return false, nil
	case isCode(err, http.StatusUnauthorized, "access_denied"):
		return true, nil
	}
	return false, cause(ctx, err)
}

// hide makes a hide marker the newest version of name; a name already
// hidden is fine.
func (s *Store) hide(ctx context.Context, name string) error {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	err := s.call(ctx, "b2_hide_file", map[string]any{"bucketId": s.sess.get().bucketID, "fileName": name}, &struct{}{})
	if err == nil || isCode(err, http.StatusBadRequest, "already_hidden") {
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
