package shrink

import (
	"context"
	"fmt"
	"time"

	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// NotApplied starts the manifest note left when the guard could not
// compare.
const NotApplied = "shrink guard not applied: "

// Guard compares a snapshot being taken with the newest complete snapshot
// found before the run. Its Review is a snapshot.Taker's Review.
type Guard struct {
	Threshold int   // percent; 0 disables the guard
	Floor     int64 // see DefaultFloor
	previous  *snapshot.Manifest
	err       error // why there is no previous to compare with
}

// Prepare lists s for the newest good snapshot at now, the one a snapshot
// taken next is compared with. A failed listing is kept for Review to
// note; it is never returned. threshold 0 lists nothing.
func Prepare(ctx context.Context, s storage.Store, threshold int, now time.Time) *Guard {
	g := &Guard{Threshold: threshold, Floor: DefaultFloor}
	if threshold <= 0 {
		return g
	}
	entries, err := snapshot.List(ctx, s)
	if err != nil {
		g.err = err
		return g
	}
	if e, ok := snapshot.NewestGood(entries, now); ok {
		g.previous = e.Manifest
	}
	return g
}

// Previous is the snapshot compared with; nil when there is none.
func (g *Guard) Previous() *snapshot.Manifest { return g.previous }

// Review flags m's shrunk artifacts in m.Shrunk, or notes in m.Notes why
// it could not compare.
func (g *Guard) Review(m *snapshot.Manifest) {
	switch {
	case g.Threshold <= 0:
	case g.err != nil:
		m.Notes = append(m.Notes, NotApplied+fmt.Sprint(g.err))
	default:
		m.Shrunk = Compare(g.previous, m, g.Threshold, g.Floor)
	}
}
