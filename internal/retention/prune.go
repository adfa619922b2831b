package retention

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"mbackup/internal/shrink"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// DefaultGarbageAge is how old the leftovers of an interrupted run must be
// before Prune removes them: far longer than any run, so that a backup under
// way is never taken for garbage.
const DefaultGarbageAge = 24 * time.Hour

// PruneOptions configures Prune.
type PruneOptions struct {
	Store  storage.Store
	Policy Policy
	// Now is the time ages are measured from; zero means time.Now().
	Now time.Time
	// DryRun deletes nothing but reports and logs what would be deleted.
	DryRun bool
	// GarbageAge is the age, by their id, past which the leftovers of runs
	// that committed no manifest are deleted, and past which unfinished
	// uploads are cancelled. 0 means DefaultGarbageAge.
	GarbageAge time.Duration
	// Log gets one line per deletion with its reason ("would delete" in a
	// dry run); nil logs nothing.
	Log io.Writer
}

// PruneReport is what Prune did, or would do in a dry run.
type PruneReport struct {
	Decisions []Decision // one per committed snapshot, newest first
	Deleted   []string   // ids of deleted snapshots: their manifest is gone
	Garbage   []string   // ids of interrupted runs whose leftovers were deleted
	// Unreadable are the ids whose manifest does not load (unreadable or
	// of a newer format): never deleted, never garbage.
	Unreadable []string
	// Shrunk are the flagged snapshots whose unaccepted shrink holds
	// snapshots the policy alone would delete, or might later.
	Shrunk []string
	// Locked are the snapshots and leftovers that object lock kept, in
	// whole or in part (see Locked): kept this time, deleted by a later
	// prune once their lock has ended. Not an error.
	Locked []Locked
	// Hidden is true when the store hides instead of deleting (a B2 key
	// without deleteFiles): what was "deleted" is hidden, and the bucket's
	// lifecycle rule removes it after its lock ends.
	Hidden     bool
	Unfinished int   // unfinished uploads cancelled: b2 large files, s3 multipart uploads, local temporary files
	Objects    int   // keys deleted
	Bytes      int64 // stored bytes of the snapshots and leftovers deleted in full
}

// Kept is the number of snapshots kept.
func (r PruneReport) Kept() int {
	n := 0
	for _, d := range r.Decisions {
		if d.Keep {
			n++
		}
	}
	return n
}

// unfinishedSweeper is implemented by stores that can cancel the unfinished
// uploads a failed or killed Put may leave behind: b2's unfinished large
// files, s3's multipart uploads, the local store's temporary files. It
// cancels those started (local: last written) more than olderThan ago,
// never one a live Put is writing, and returns how many.
type unfinishedSweeper interface {
	SweepUnfinished(ctx context.Context, olderThan time.Duration) (int, error)
}

// Prune lists the store, plans with opt.Policy, and deletes the snapshots
// the plan does not keep, oldest first, then the leftovers of interrupted
// runs older than GarbageAge, then unfinished uploads as old.
//
// A snapshot's manifest is deleted before its other keys, so it stops being
// a snapshot at once; if the run stops midway, the rest of it is garbage
// for the next prune. Nothing is deleted after the first error, which is
// returned with the report of what was deleted until then. A failed listing
// or an invalid policy deletes nothing. A key under object lock
// (*storage.LockedError) is no error: it is reported in Locked and left for
// a later prune; a locked manifest keeps its whole snapshot.
func Prune(ctx context.Context, opt PruneOptions) (PruneReport, error) {
	var rep PruneReport
	if opt.Store == nil {
		return rep, errors.New("retention: prune: no store")
	}
	if err := opt.Policy.Validate(); err != nil {
		return rep, err
	}
	now, age := opt.Now, opt.GarbageAge
	if now.IsZero() {
		now = time.Now()
	}
	if age == 0 {
		age = DefaultGarbageAge
	}
	if age < 0 {
		return rep, fmt.Errorf("retention: prune: negative garbage age %v", age)
	}
	entries, err := snapshot.List(ctx, opt.Store)
	if err != nil {
		return rep, fmt.Errorf("retention: prune: %w", err)
	}
	accepted, err := shrink.Accepted(ctx, opt.Store)
	if err != nil {
		return rep, fmt.Errorf("retention: prune: %w", err)
	}
	snaps, byID := committed(entries, now, accepted)
	rep.Decisions, err = Plan(snaps, now, opt.Policy)
	if err != nil {
		return rep, err
	}
	if err := guard(rep.Decisions, now); err != nil {
		return rep, err
	}
	rep.Hidden = Hides(opt.Store)
	p := &pruner{opt: opt, rep: &rep, log: opt.Log, accepted: accepted, now: now}
	if p.log == nil {
		p.log = io.Discard
	}
	p.leaveUnreadable(entries)
	p.tellHolds()
	for i := len(rep.Decisions) - 1; i >= 0; i-- {
		if d := rep.Decisions[i]; !d.Keep {
			if err := p.deleteSnapshot(ctx, byID[d.ID], d.Reason); err != nil {
				return rep, err
			}
		}
	}
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if started, _ := snapshot.ParseID(e.ID); e.Status == snapshot.StatusIncomplete && e.Manifest == nil && now.Sub(started) > age {
			if err := p.deleteGarbage(ctx, e, now.Sub(started)); err != nil {
				return rep, err
			}
		}
	}
	return rep, p.sweep(ctx, age)
}

// committed returns the snapshots whose manifest loaded, for Plan, and
// their entries by id. Incomplete runs are garbage, not snapshots; entries
// whose manifest does not load are neither, and stay out of the plan.
func committed(entries []snapshot.Entry, now time.Time, accepted map[string]bool) ([]Snapshot, map[string]snapshot.Entry) {
	var snaps []Snapshot
	byID := make(map[string]snapshot.Entry, len(entries))
	for _, e := range entries {
		if e.Manifest == nil || (e.Status != StatusComplete && e.Status != StatusPartial) {
			continue
		}
		t, _ := snapshot.ParseID(e.ID) // List returns valid ids only
		snaps = append(snaps, Snapshot{ID: e.ID, Time: t, Status: e.Status, Future: e.FutureAt(now),
			ShrunkFrom: shrink.Held(e.Manifest), Accepted: accepted[e.ID]})
		byID[e.ID] = e
	}
	return snaps, byID
}

// leaveUnreadable reports the entries whose manifest does not load: they
// may be a newer mbackup's snapshots, and are left alone.
func (p *pruner) leaveUnreadable(entries []snapshot.Entry) {
	for _, e := range entries {
		if e.Status == snapshot.StatusUnreadable || e.Status == snapshot.StatusNewerFormat {
			p.rep.Unreadable = append(p.rep.Unreadable, e.ID)
			fmt.Fprintf(p.log, "left alone snapshot %s: %s (%s): never deleted by prune; %s\n", e.ID, e.Status, e.Reason, e.Hint())
		}
	}
}

// guard checks the plan against the one promise that must never break
// before anything is deleted: the newest complete snapshot not dated in
// the future is kept.
func guard(ds []Decision, now time.Time) error {
	for _, d := range ds {
		if d.Future || d.Time.Sub(now) > snapshot.FutureSkew {
			continue
		}
		if d.Status == StatusComplete {
			if !d.Keep {
				return fmt.Errorf("retention: prune: refusing a plan that deletes the newest complete snapshot %s", d.ID)
			}
			return nil
		}
	}
	return nil
}

// tellHolds logs every snapshot kept by a shrink hold, and records the
// flagged snapshots holding them in the report.
func (p *pruner) tellHolds() {
	for _, d := range p.rep.Decisions {
		for _, f := range d.HeldBy {
			if f == d.ID {
				p.rep.Shrunk = append(p.rep.Shrunk, f)
				continue
			}
			fmt.Fprintf(p.log, "kept snapshot %s: before the shrink of %s, until mbackup accept-shrink %s\n", d.ID, f, f)
		}
	}
	slices.Sort(p.rep.Shrunk)
}

// pruner carries one Prune run: its options and what it did so far.
type pruner struct {
	opt      PruneOptions
	rep      *PruneReport
	log      io.Writer
	accepted map[string]bool // ids whose shrink was accepted
	now      time.Time
}

// deleteSnapshot deletes the manifest of e, then its other keys. A
// manifest that object lock keeps keeps the whole snapshot: none of its
// artifacts is deleted, since a snapshot that still looks complete must
// never lose them. Artifacts locked after the manifest went are leftovers
// for a later prune.
func (p *pruner) deleteSnapshot(ctx context.Context, e snapshot.Entry, reason string) error {
	until, err := p.lockedUnder(ctx, snapshot.Root+e.ID+"/")
	if err != nil {
		return fmt.Errorf("retention: delete snapshot %s: %w", e.ID, err)
	}
	if !until.IsZero() {
		p.locked(Locked{ID: e.ID, Until: until, Snapshot: true}, reason+"; left whole")
		return nil
	}
	if p.opt.DryRun {
		fmt.Fprintf(p.log, "would delete snapshot %s: %s\n", e.ID, reason)
		p.rep.Deleted = append(p.rep.Deleted, e.ID)
		p.rep.Objects += len(e.Keys)
		p.rep.Bytes += e.Bytes
		return nil
	}
	manifest := snapshot.ManifestKey(e.ID)
	err = p.delete(ctx, manifest)
	if until, ok := lockedUntil(err); ok {
		p.locked(Locked{ID: e.ID, Until: until, Snapshot: true}, reason+"; its artifacts stay with it")
		return nil
	}
	if err != nil {
		return fmt.Errorf("retention: delete snapshot %s: %w", e.ID, err)
	}
	p.rep.Deleted = append(p.rep.Deleted, e.ID)
	var rest []string
	for _, k := range e.Keys {
		if k != manifest {
			rest = append(rest, k)
		}
	}
	if p.accepted[e.ID] {
		// The acceptance of a deleted snapshot's shrink holds nothing.
		rest = append(rest, shrink.AcceptedKey(e.ID))
	}
	kept, until, err := p.deleteKeys(ctx, rest)
	if err != nil {
		return fmt.Errorf("retention: delete snapshot %s: its manifest is gone, the rest is garbage for the next prune: %w", e.ID, err)
	}
	if kept {
		p.locked(Locked{ID: e.ID, Until: until}, "its manifest is gone, the rest is garbage")
	} else {
		p.rep.Bytes += e.Bytes
	}
	fmt.Fprintf(p.log, "%s snapshot %s: %s\n", p.deleted(), e.ID, reason)
	return nil
}

// deleted is the verb of a deletion: "hid" on a store that only hides.
func (p *pruner) deleted() string {
	if p.rep.Hidden {
		return "hid"
	}
	return "deleted"
}

// deleteGarbage deletes the leftovers of a run that committed no manifest,
// but those that object lock keeps.
func (p *pruner) deleteGarbage(ctx context.Context, e snapshot.Entry, age time.Duration) error {
	objects := "objects"
	if len(e.Keys) == 1 {
		objects = "object"
	}
	why := fmt.Sprintf("interrupted run %s (%d %s): no manifest, started %s ago", e.ID, len(e.Keys), objects, FormatAge(age))
	until, err := p.lockedUnder(ctx, snapshot.Root+e.ID+"/")
	if err != nil {
		return fmt.Errorf("retention: delete interrupted run %s: %w", e.ID, err)
	}
	if !until.IsZero() {
		p.locked(Locked{ID: e.ID, Until: until}, why)
		return nil
	}
	if p.opt.DryRun {
		fmt.Fprintf(p.log, "would delete %s\n", why)
		p.rep.Garbage = append(p.rep.Garbage, e.ID)
		p.rep.Objects += len(e.Keys)
		p.rep.Bytes += e.Bytes
		return nil
	}
	kept, until, err := p.deleteKeys(ctx, e.Keys)
	if err != nil {
		return fmt.Errorf("retention: delete interrupted run %s: %w", e.ID, err)
	}
	if kept {
		p.locked(Locked{ID: e.ID, Until: until}, why)
		return nil
	}
	p.rep.Garbage = append(p.rep.Garbage, e.ID)
	p.rep.Bytes += e.Bytes
	fmt.Fprintf(p.log, "%s %s\n", p.deleted(), why)
	return nil
}

// delete deletes one key, unless ctx is done.
func (p *pruner) delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.opt.Store.Delete(ctx, key); err != nil {
		return err
	}
	p.rep.Objects++
	return nil
}

// sweep cancels unfinished uploads older than age, if the store has them. A dry run cannot count them without cancelling, so it only says so.
func (p *pruner) sweep(ctx context.Context, age time.Duration) error {
	s, ok := p.opt.Store.(unfinishedSweeper)
	if !ok {
		return nil
	}
	if p.opt.DryRun {
		fmt.Fprintf(p.log, "would cancel unfinished uploads started more than %s ago\n", FormatAge(age))
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	n, err := s.SweepUnfinished(ctx, age)
	p.rep.Unfinished = n
	if n > 0 {
		fmt.Fprintf(p.log, "cancelled %d unfinished uploads started more than %s ago\n", n, FormatAge(age))
	}
	if err != nil {
		return fmt.Errorf("retention: prune: %w", err)
	}
	return nil
}
