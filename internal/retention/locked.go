package retention

import (
	"context"
	"errors"
	"fmt"
	"time"

	"mbackup/internal/storage"
)

// Locked is a snapshot, or what is left of one, that object lock kept
// from being deleted: not a failure, a later prune deletes it once the lock
// has ended.
type Locked struct {
	ID string
	// Until is the latest retain-until of its keys that stayed; zero
	// when the key may not read retentions (readFileRetentions).
	Until time.Time
	// Snapshot is true when the manifest itself is locked: the snapshot
	// is whole and still listed. False for leftovers: a snapshot whose
	// manifest is gone, or an interrupted run, with some keys locked.
	Snapshot bool
}

// Text is "snapshot ID locked until T" or "leftovers of ID locked until T";
// "locked (until when, this key may not read)" when Until is zero.
func (l Locked) Text() string {
	what := "leftovers of " + l.ID
	if l.Snapshot {
		what = "snapshot " + l.ID
	}
	if l.Until.IsZero() {
		return what + " locked (until when, this key may not read: it lacks readFileRetentions)"
	}
	return what + " locked until " + l.Until.UTC().Format(time.RFC3339)
}

// hider is implemented by stores whose Delete hides instead of deleting
// (a B2 key without deleteFiles): the bytes stay until the bucket's
// lifecycle rule removes hidden versions, after their lock ends.
type hider interface{ Hides() bool }

// Hides reports whether Delete on s only hides.
func Hides(s storage.Store) bool {
	h, ok := s.(hider)
	return ok && h.Hides()
}

// lockedUntil returns the retain-until of a locked deletion, and whether
// err is one (a wrapped *storage.LockedError).
func lockedUntil(err error) (time.Time, bool) {
	var le *storage.LockedError
	if errors.As(err, &le) {
		return le.Until, true
	}
	return time.Time{}, false
}

// lockedUnder returns the latest retain-until after now among the
// versions under prefix, zero when none is locked. It asks stores that
// keep versions (storage.Versioned), and not those that only hide (hiding
// is allowed under a lock): a snapshot with a locked key is left whole,
// listed, for a later prune, rather than half deleted. Elsewhere Delete's
// *storage.LockedError is what tells.
func (p *pruner) lockedUnder(ctx context.Context, prefix string) (time.Time, error) {
	vs, ok := p.opt.Store.(storage.Versioned)
	if !ok || p.rep.Hidden {
		return time.Time{}, nil
	}
	var until time.Time
	err := vs.Versions(ctx, prefix, func(v storage.Version) error {
		if v.RetainUntil.After(p.now) {
			until = later(until, v.RetainUntil)
		}
		return nil
	})
	return until, err
}

// deleteKeys deletes keys, skipping those object lock keeps: it returns
// whether some were kept, the latest of their retain-untils (zero when
// the key may not read them) and the first other error, after which
// nothing more is deleted.
func (p *pruner) deleteKeys(ctx context.Context, keys []string) (kept bool, until time.Time, err error) {
	for _, k := range keys {
		err := p.delete(ctx, k)
		if t, ok := lockedUntil(err); ok {
			kept, until = true, later(until, t)
			continue
		}
		if err != nil {
			return kept, until, err
		}
	}
	return kept, until, nil
}

// locked records and logs what object lock kept.
func (p *pruner) locked(l Locked, why string) {
	p.rep.Locked = append(p.rep.Locked, l)
	fmt.Fprintf(p.log, "%s: %s; a later prune deletes it\n", l.Text(), why)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
