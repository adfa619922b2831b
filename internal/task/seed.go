package task

import (
	"context"
	"time"

	"mbackup/internal/drill"
	"mbackup/internal/metrics"
	"mbackup/internal/storage"
)

// fromStore records what the store says beyond its snapshots: the newest
// drill records (metrics.SetDrill), and the last success of the tasks the
// store keeps a trace of (metrics.SeedLastSuccess), so that after a
// restart those series exist before the first run: backup from the newest
// good snapshot (newest, its end), drill from the newest successful drill
// record, mirror from the time its index was written. prune and verify
// leave no trace in the store and stay absent until they run. A record or
// index that cannot be read is logged; it never fails the caller. It
// returns the drill records found.
func (o *Observer) fromStore(ctx context.Context, s storage.Store, newestEnd time.Time) drill.Found {
	o.metrics.SeedLastSuccess(Backup, newestEnd)
	f, err := drill.Latest(ctx, s)
	switch {
	case err != nil:
		o.log.Warn("cannot read the drill records", "err", err)
	case f.Unreadable > 0:
		o.log.Warn("drill records left alone: they do not load", "unreadable", f.Unreadable)
	}
	if f.Last != nil {
		d := metrics.Drill{LastFailed: !f.Last.OK}
		if ok := f.LastOK; ok != nil {
			d.LastOK, d.Duration, d.ComponentSeconds = ok.Finished, ok.Duration(), ok.ComponentSeconds
			o.metrics.SeedLastSuccess(Drill, ok.Finished)
		}
		o.metrics.SetDrill(d)
	}
	o.mu.Lock()
	index := o.mirrorIndex
	o.mu.Unlock()
	if index != "" {
		if obj, err := s.Stat(ctx, index); err == nil {
			o.metrics.SeedLastSuccess(Mirror, obj.Modified)
		}
	}
	return f
}
