// Package engines is the list of the engines a snapshot is made of.
//
// Invariants:
//   - All holds one engine per component, in the order a snapshot's jobs
//     are taken (and listed, and offered by a guided restore); a restore
//     runs them in the order of their RestoreOrder instead.
//   - Nothing outside an engine's own package names its component, kinds
//     or targets: the rest of the program reaches an engine through All.
//
// Adding an engine: write a package with a type that implements
// engine.Engine (its component, a title for messages, the backup jobs of
// what the configuration sets for it, the scanner of its SQL artifacts if a
// client runs them, and its place in a restore), and a type that
// implements engine.Target (Plan: the sentence of what a step does; Check:
// the refusal before anything is written; Apply: the restore of one staged
// artifact and its check), optionally engine.Scratch (Drop) and
// engine.Drillable (ScratchTarget, a target given by URL) for verify's
// drill. The component and kinds may be declared in that package
// (artifact.Component and artifact.Kind are open string types). Then add
// one line to All.
package engines

import (
	"context"
	"slices"

	"mbackup/internal/artifact"
	"mbackup/internal/config"
	"mbackup/internal/engine"
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
}

// Find returns the engine of component c.
func Find(c artifact.Component) (engine.Engine, bool) {
	i := slices.IndexFunc(All, func(e engine.Engine) bool { return e.Component() == c })
	if i < 0 {
		return nil, false
	}
	return All[i], true
}

// Names are the components of All, in order: "postgres", "redis", "mysql".
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
