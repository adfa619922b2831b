// Package engines is the list of the engines a snapshot is made of.
//
// Invariants:
//   - All holds one engine per component, in the order a snapshot's jobs
//     are taken (and listed, and offered by a guided restore); a restore
//     runs them in the order of their RestoreOrder instead.
//   - Outside the engines' own packages, code reaches an engine through
//     All or Find, never by a switch on the name of its component.
//
// Adding an engine: write a package with a type that implements
// engine.Engine (its component, a title for messages, the backup jobs of
// what the configuration sets for it, the meta-command scanner of its
// artifacts if a client runs them, and its place in a restore) and a type
// that implements engine.Target (Plan: the sentence of what a step does;
// Check: the refusal before anything is written; Apply: the restore of one
// staged artifact and its check). For the restore command the engine also
// implements engine.Restorable (the flags and questions of its target);
// for verify's drill, engine.Drillable (a scratch target given by URL,
// an engine.Scratch that can drop what it restored); a target that needs
// what the manifest recorded of an artifact (the files engine's list of
// files), engine.Informed, and an engine whose scanner checks the
// plaintext against it, engine.InfoScanner. Its component and
// kinds may be declared in that package: artifact.Component and
// artifact.Kind are open string types. Then add one line to All.
package engines

import (
	"cmp"
	"context"
	"slices"

	"mbackup/internal/artifact"
	"mbackup/internal/config"
	"mbackup/internal/engine"
	"mbackup/internal/filesdump"
	"mbackup/internal/mysqldump"
	"mbackup/internal/pgdump"
	"mbackup/internal/redisdump"
	"mbackup/internal/snapshot"
)

// All are the engines, in the order their jobs are taken.
var All = []engine.Engine{
	pgdump.Engine{},
	redisdump.Engine{},
	mysqldump.Engine{},
	filesdump.Engine{},
}

// Find returns the engine of component c.
func Find(c artifact.Component) (engine.Engine, bool) {
	i := slices.IndexFunc(All, func(e engine.Engine) bool { return e.Component() == c })
	if i < 0 {
		return nil, false
	}
	return All[i], true
}

// Names are the components of All, in order: "postgres", "redis", "mysql",
// "files".
func Names() []string {
	var out []string
	for _, e := range All {
		out = append(out, string(e.Component()))
	}
	return out
}

// Jobs returns the backup jobs of the engines named in only (all when only
// is empty), in All's order.
func Jobs(ctx context.Context, cfg *config.Config, only []string) []snapshot.Job {
	var js []snapshot.Job
	for _, e := range All {
		if len(only) == 0 || slices.Contains(only, string(e.Component())) {
			js = append(js, e.Jobs(ctx, cfg)...)
		}
	}
	return js
}

// InRestoreOrder is All ordered by RestoreOrder.
func InRestoreOrder() []engine.Engine {
	out := slices.Clone(All)
	slices.SortStableFunc(out, func(a, b engine.Engine) int { return cmp.Compare(a.RestoreOrder(), b.RestoreOrder()) })
	return out
}
