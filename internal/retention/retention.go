// Package retention decides which snapshots to keep (Plan, a pure function
// of the snapshots, the time and the policy) and applies that decision to a
// store (Prune).
//
// Invariants:
//   - The newest complete snapshot is always kept, whatever its age: a
//     policy with KeepLast < 1 is refused, so weeks of failed runs never
//     prune the last good backup.
//   - Every committed snapshot (complete or partial) younger than
//     KeepWithin is kept.
//   - Partial snapshots never count toward keep_last, keep_daily,
//     keep_weekly or keep_monthly; only keep_within keeps them. A partial
//     snapshot older than KeepWithin is deleted even when it is the newest.
//   - A snapshot dated more than snapshot.FutureSkew after now (a wrong
//     clock or a forged manifest) is kept and counts for no rule: it is
//     never the newest complete one, never one of keep_last or a period's,
//     so it never makes another snapshot go.
//   - Every decision carries a human reason, for keeps and deletions alike.
//   - The shrink hold: a snapshot whose manifest flags shrunk artifacts
//     (ShrunkFrom) and whose shrink is not Accepted keeps itself and the
//     snapshots it names, whatever the other rules say, until an admin
//     accepts it (mbackup accept-shrink). Keeping the flagged snapshot too
//     (it is small by nature) keeps the record of the hold: the hold never
//     ends by ageing out, only by acceptance, or when none of the snapshots
//     it names is left.
//   - Prune plans only the snapshots whose manifest loads. An id whose
//     manifest does not load (unreadable, or of a newer format) is neither
//     a snapshot nor garbage: Prune reports it and never deletes its keys.
//   - Prune reads the acceptances of shrinks (shrink.Accepted) before it
//     plans: a listing of them that fails deletes nothing. It deletes a
//     snapshot's acceptance after the snapshot.
//   - Prune deletes a snapshot's manifest first, so the snapshot disappears
//     at once and what is left of it after an interruption is garbage; it
//     deletes nothing after the first error of a run.
//   - A key that object lock keeps (*storage.LockedError from Delete) is
//     no error: Prune reports it (Locked) and a later prune deletes it.
//     When a snapshot's manifest is locked, none of its artifacts is
//     deleted: a snapshot that still looks complete never loses them.
package retention

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"mbackup/internal/snapshot"
)

// Snapshot statuses Plan accepts, those of a manifest.
const (
	StatusComplete = snapshot.StatusComplete
	StatusPartial  = snapshot.StatusPartial
)

// Policy says which snapshots to keep. A snapshot is kept when any rule
// keeps it.
type Policy struct {
	// KeepWithin keeps every snapshot, complete or partial, younger than this.
	KeepWithin time.Duration
	// KeepLast keeps the newest KeepLast complete snapshots whatever their
	// age. It must be at least 1.
	KeepLast int
	// KeepDaily, KeepWeekly and KeepMonthly keep the newest complete
	// snapshot of each of the last N UTC days, ISO weeks and months that
	// have one.
	KeepDaily, KeepWeekly, KeepMonthly int
}

// Snapshot is one committed snapshot as Plan sees it.
type Snapshot struct {
	ID     string
	Time   time.Time
	Status string // StatusComplete or StatusPartial
	// Future marks a snapshot dated in the future by more than its Time
	// says (its manifest's start, say); Plan also takes any Time more than
	// snapshot.FutureSkew after now for one.
	Future bool
	// ShrunkFrom are the snapshots this one's shrink guard compared it
	// with and found much larger (the manifest's Shrunk); Accepted is set
	// once an admin accepted that drop. See the package invariants.
	ShrunkFrom []string
	Accepted   bool
}

// Decision is the fate of one snapshot and why.
type Decision struct {
	Snapshot
	Keep   bool
	Reason string
	// HeldBy are the flagged snapshots whose unaccepted shrink keeps this
	// one, itself included when it is the flagged one.
	HeldBy []string
}

// ErrEmptyPolicy is wrapped by the error Plan returns for a policy that
// would not keep the newest complete snapshot.
var ErrEmptyPolicy = errors.New("retention: empty policy")

// Validate reports whether p can be applied: KeepLast at least 1 and no
// negative value.
func (p Policy) Validate() error {
	switch {
	case p.KeepLast < 1:
		return fmt.Errorf("%w: keep_last is %d, must be at least 1 so that the newest complete snapshot is always kept", ErrEmptyPolicy, p.KeepLast)
	case p.KeepWithin < 0, p.KeepDaily < 0, p.KeepWeekly < 0, p.KeepMonthly < 0:
		return fmt.Errorf("retention: negative value in policy %+v", p)
	}
	return nil
}

// Plan returns one decision per snapshot, newest first (ties by ID). The
// input may be in any order. It fails, deciding nothing, on an invalid
// policy, a duplicate ID or an unknown status. now is the time ages are
// measured from; snapshots dated after it count as age 0, and those dated
// more than snapshot.FutureSkew after it (or marked Future) are kept and
// counted by no rule.
func Plan(snaps []Snapshot, now time.Time, p Policy) ([]Decision, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	out := make([]Decision, 0, len(snaps))
	seen := make(map[string]bool, len(snaps))
	for _, s := range snaps {
		if seen[s.ID] {
			return nil, fmt.Errorf("retention: duplicate snapshot id %s", s.ID)
		}
		seen[s.ID] = true
		if s.Status != StatusComplete && s.Status != StatusPartial {
			return nil, fmt.Errorf("retention: snapshot %s: unknown status %q", s.ID, s.Status)
		}
		out = append(out, Decision{Snapshot: s})
	}
	slices.SortFunc(out, newestFirst)
	future, dated := splitFuture(out, now)
	reasons := make([][]string, len(dated))
	keepWithin(dated, reasons, now, p)
	keepLast(dated, reasons, p.KeepLast)
	keepPeriods(dated, reasons, "day", "keep_daily", p.KeepDaily, func(t time.Time) string { return t.Format(time.DateOnly) })
	keepPeriods(dated, reasons, "week", "keep_weekly", p.KeepWeekly, func(t time.Time) string {
		y, w := t.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	})
	keepPeriods(dated, reasons, "month", "keep_monthly", p.KeepMonthly, func(t time.Time) string { return t.Format("2006-01") })
	keepShrinkHolds(dated, reasons)
	for i := range dated {
		d := &dated[i]
		d.Keep = len(reasons[i]) > 0
		if d.Keep {
			d.Reason = strings.Join(reasons[i], "; ")
		} else {
			d.Reason = deleteReason(d.Snapshot, i == 0, p)
		}
	}
	for i := range future {
		d := &future[i]
		d.Keep = true
		d.Reason = fmt.Sprintf("dated in the future (%s ahead of now: a wrong clock or a forged manifest): kept, and counted by no rule", FormatAge(d.Time.Sub(now)))
		if d.Future && d.Time.Sub(now) <= snapshot.FutureSkew {
			d.Reason = "dated in the future (its manifest's start: a wrong clock or a forged manifest): kept, and counted by no rule"
		}
	}
	return mergeNewestFirst(future, dated), nil
}

// splitFuture splits ds (newest first) into the snapshots dated in the
// future and the others, each newest first.
func splitFuture(ds []Decision, now time.Time) (future, dated []Decision) {
	for _, d := range ds {
		if d.Future || d.Time.Sub(now) > snapshot.FutureSkew {
			future = append(future, d)
		} else {
			dated = append(dated, d)
		}
	}
	return future, dated
}

// mergeNewestFirst merges two lists sorted newest first (ties by ID).
func mergeNewestFirst(a, b []Decision) []Decision {
	out := slices.Concat(a, b)
	slices.SortStableFunc(out, newestFirst)
	return out
}

func newestFirst(a, b Decision) int {
	if c := b.Time.Compare(a.Time); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// keepWithin keeps every snapshot younger than p.KeepWithin.
func keepWithin(ds []Decision, reasons [][]string, now time.Time, p Policy) {
	if p.KeepWithin <= 0 {
		return
	}
	for i, d := range ds {
		age := max(now.Sub(d.Time), 0)
		if age < p.KeepWithin {
			reasons[i] = append(reasons[i], fmt.Sprintf("within %s (%s old)", FormatAge(p.KeepWithin), FormatAge(age)))
		}
	}
}

// keepLast keeps the newest n complete snapshots.
func keepLast(ds []Decision, reasons [][]string, n int) {
	k := 0
	for i, d := range ds {
		if k == n {
			return
		}
		if d.Status == StatusComplete {
			k++
			reasons[i] = append(reasons[i], fmt.Sprintf("newest complete #%d of keep_last %d", k, n))
		}
	}
}

// keepPeriods keeps the newest complete snapshot of each of the newest n
// periods (as named by key, in UTC) that have one. ds is newest first.
func keepPeriods(ds []Decision, reasons [][]string, unit, rule string, n int, key func(time.Time) string) {
	last, k := "", 0
	for i, d := range ds {
		if k == n {
			return
		}
		if d.Status != StatusComplete {
			continue
		}
		if p := key(d.Time.UTC()); p != last {
			last = p
			k++
			reasons[i] = append(reasons[i], fmt.Sprintf("newest of %s %s (%s %d)", unit, p, rule, n))
		}
	}
}

// keepShrinkHolds keeps every flagged snapshot whose shrink is not
// accepted and the snapshots it names (see the package invariants).
func keepShrinkHolds(ds []Decision, reasons [][]string) {
	index := make(map[string]int, len(ds))
	for i, d := range ds {
		index[d.ID] = i
	}
	for i, d := range ds {
		if len(d.ShrunkFrom) == 0 || d.Accepted {
			continue
		}
		until := "until mbackup accept-shrink " + d.ID
		var held []string
		for _, prev := range d.ShrunkFrom {
			if j, ok := index[prev]; ok && j != i {
				reasons[j] = append(reasons[j], fmt.Sprintf("before the shrink of %s, %s", d.ID, until))
				ds[j].HeldBy = append(ds[j].HeldBy, d.ID)
				held = append(held, prev)
			}
		}
		if len(held) > 0 {
			reasons[i] = append(reasons[i], fmt.Sprintf("its artifacts shrank: holds %s %s", strings.Join(held, ", "), until))
			ds[i].HeldBy = append(ds[i].HeldBy, d.ID)
		}
	}
}

// deleteReason says why no rule keeps s.
func deleteReason(s Snapshot, newest bool, p Policy) string {
	if s.Status == StatusPartial {
		why := "partial"
		if p.KeepWithin > 0 {
			why += " and older than " + FormatAge(p.KeepWithin)
		}
		if newest {
			return why + ": deleted although it is the newest snapshot (only keep_within keeps partial snapshots; the newest complete is kept)"
		}
		return why + " (only keep_within keeps partial snapshots)"
	}
	var b strings.Builder
	if p.KeepWithin > 0 {
		fmt.Fprintf(&b, "older than %s, ", FormatAge(p.KeepWithin))
	}
	fmt.Fprintf(&b, "not among the newest %d complete", p.KeepLast)
	var rules []string
	for _, r := range []struct {
		name string
		n    int
	}{{"keep_daily", p.KeepDaily}, {"keep_weekly", p.KeepWeekly}, {"keep_monthly", p.KeepMonthly}} {
		if r.n > 0 {
			rules = append(rules, fmt.Sprintf("%s %d", r.name, r.n))
		}
	}
	if len(rules) > 0 {
		fmt.Fprintf(&b, ", not kept by %s", strings.Join(rules, ", "))
	}
	return b.String()
}

// FormatAge writes d in days, hours and minutes, largest units first and
// at most two of them: "14d", "3d2h", "5h30m", "45m", "10s".
func FormatAge(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	parts := []struct {
		n    int64
		unit string
	}{
		{int64(d / (24 * time.Hour)), "d"},
		{int64(d % (24 * time.Hour) / time.Hour), "h"},
		{int64(d % time.Hour / time.Minute), "m"},
	}
	var b strings.Builder
	for i, p := range parts {
		if p.n == 0 {
			continue
		}
		fmt.Fprintf(&b, "%d%s", p.n, p.unit)
		if i+1 < len(parts) && parts[i+1].n != 0 {
			fmt.Fprintf(&b, "%d%s", parts[i+1].n, parts[i+1].unit)
		}
		break
	}
	return b.String()
}
