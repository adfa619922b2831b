package mediasync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"mbackup/internal/storage"
)

// indexRefresh is how old an unchanged index may get before a run writes
// it again anyway: its modification time is when the mirror last
// succeeded for a daemon that has just started (the mirror's "last
// success" series, alerted on after 26 hours).
const indexRefresh = 6 * time.Hour

// indexUpdate writes the new index only when it differs from the old one.
// Until the first record that differs, it only counts the records that
// equal the old index's, in order; at the first difference it starts the
// upload, copies those records from a second read of the old index, and
// goes on streaming. A run that changed nothing uploads nothing (and so
// holds no encoder and no upload buffer), unless the old index is older
// than indexRefresh or missing.
type indexUpdate struct {
	ctx    context.Context
	st     storage.Store // nil in a dry run: nothing is written
	key    string
	exists bool  // the old index exists
	same   int64 // records so far equal to the old index's first ones
	w      *indexWriter
}

func newIndexUpdate(ctx context.Context, st storage.Store, key string, exists bool) *indexUpdate {
	return &indexUpdate{ctx: ctx, st: st, key: key, exists: exists}
}

// add takes the next record of the new index, or, when ok is false, notes
// that the old index's record x is dropped. x is the old index's record
// at the same key, if any.
func (u *indexUpdate) add(rec entry, ok bool, x *entry) error {
	if u.st == nil {
		return nil
	}
	if u.w == nil {
		if ok && x != nil && rec == *x {
			u.same++
			return nil
		}
		if !ok && x == nil {
			return nil
		}
		if err := u.start(); err != nil {
			return err
		}
	}
	if !ok {
		return nil
	}
	return u.w.add(rec)
}

// start begins the upload with the records counted so far, read again
// from the old index.
func (u *indexUpdate) start() error {
	w, err := newIndexWriter(u.ctx, u.st, u.key)
	if err != nil {
		return fmt.Errorf("write index %s: %w", u.key, err)
	}
	u.w = w
	if u.same == 0 {
		return nil
	}
	old, closeOld, err := openIndex(u.ctx, u.st, u.key)
	if err != nil {
		return err
	}
	defer closeOld()
	for i := int64(0); i < u.same; i++ {
		if err := old.advance(); err != nil {
			return err
		}
		if !old.ok {
			return fmt.Errorf("read index %s: %w after %d of %d records", u.key, errIndexShrank, i, u.same)
		}
		if err := w.add(old.head); err != nil {
			return err
		}
	}
	return nil
}

// errIndexShrank is the cause of an old index that, read again, had fewer
// records than the first time.
var errIndexShrank = errors.New("index ended early")

// commit writes the new index if it differs from the old one, or the old
// one is missing or older than indexRefresh.
func (u *indexUpdate) commit() error {
	if u.st == nil {
		return nil
	}
	if u.w == nil && u.exists {
		o, err := u.st.Stat(u.ctx, u.key)
		if err != nil {
			return fmt.Errorf("stat index %s: %w", u.key, err)
		}
		if time.Since(o.Modified) < indexRefresh {
			return nil
		}
	}
	if u.w == nil {
		if err := u.start(); err != nil {
			u.abort(err)
			return err
		}
	}
	return u.w.commit()
}

// abort drops the upload, if one started; the old index stays.
func (u *indexUpdate) abort(cause error) {
	if u.w != nil {
		u.w.abort(cause)
	}
}
