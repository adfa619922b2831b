// Package shrink is the shrink guard: it flags the artifacts of a snapshot
// being taken that are much smaller than the same artifacts of the newest
// complete snapshot before it, and records the admins' acceptance of such
// a drop in the store.
//
// A backup that "works" but holds almost nothing (a dump of an emptied or
// wrong database, a Redis that restarted empty, a files entry that lost
// its content) is the failure no exit status reveals; retention would
// prune every good copy a few days later. The guard makes it visible
// (the manifest's Shrunk, Slack, a metric) and retention keeps the
// snapshot from before the drop until someone accepts it.
//
// Invariants:
//   - Compare is pure. An artifact is flagged when it had at least Floor
//     plaintext bytes in the previous snapshot and now has fewer than
//     Threshold percent of them (for files entries, also fewer than
//     Threshold percent of the files), or when it is missing while its
//     component was taken and none of its jobs failed. Smaller artifacts,
//     components left out of this run (--only) and failed jobs are never
//     flagged: failures are reported as such.
//   - The previous snapshot is snapshot.NewestGood of a listing made
//     before the run: complete, not dated in the future. No previous
//     snapshot (the first one) flags nothing.
//   - The guard never fails a backup: a listing that fails leaves the
//     note "shrink guard not applied: ..." in the manifest instead.
//   - An acceptance is the object shrink-accepted/<id>.json, outside
//     snapshots/, so it is never listed as a snapshot nor taken for the
//     garbage of an interrupted run. Accepted ignores keys that do not
//     name a snapshot id.
package shrink

import (
	"fmt"

	"mbackup/internal/human"
	"mbackup/internal/snapshot"
)

// DefaultThreshold is the share, in percent, of an artifact's previous
// size below which it is flagged.
const DefaultThreshold = 50

// DefaultFloor is the smallest previous plaintext size of an artifact that
// is compared: smaller ones (globals, a config file) vary by more than any
// threshold for harmless reasons.
const DefaultFloor = 1 << 20

// Compare returns the artifacts of cur that shrank below threshold percent
// of the same artifact in prev, or that are missing (see the package
// invariants). threshold 0 flags nothing.
func Compare(prev, cur *snapshot.Manifest, threshold int, floor int64) []snapshot.Shrink {
	if prev == nil || cur == nil || threshold <= 0 {
		return nil
	}
	type key struct{ component, name string }
	now := make(map[key]snapshot.Artifact, len(cur.Artifacts))
	taken := map[string]bool{}
	for _, a := range cur.Artifacts {
		now[key{a.Component, a.Name}] = a
		taken[a.Component] = true
	}
	failed := map[string]bool{}
	for _, f := range cur.Failed {
		failed[f.Component] = true
	}
	var out []snapshot.Shrink
	for _, b := range prev.Artifacts {
		if b.PlainBytes < floor {
			continue
		}
		s := snapshot.Shrink{Component: b.Component, Name: b.Name, BeforeBytes: b.PlainBytes, BeforeFiles: b.FileCount, Previous: prev.ID}
		a, ok := now[key{b.Component, b.Name}]
		switch {
		case !ok && taken[b.Component] && !failed[b.Component]:
			s.Missing = true
		case !ok:
			continue
		case below(a.PlainBytes, b.PlainBytes, threshold) || (b.FileCount > 0 && below(a.FileCount, b.FileCount, threshold)):
			s.AfterBytes = a.PlainBytes
			if b.FileCount > 0 {
				s.AfterFiles = a.FileCount
			}
		default:
			continue
		}
		out = append(out, s)
	}
	return out
}

// below reports whether after is less than threshold percent of before.
func below(after, before int64, threshold int) bool {
	return float64(after)*100 < float64(before)*float64(threshold)
}

// Line describes s for an admin: "postgres/mastodon_production: 12.1 MiB,
// was 987 MiB in ID (−99 %)".
func Line(s snapshot.Shrink) string {
	what := s.Component + "/" + s.Name
	if s.Missing {
		return fmt.Sprintf("%s: missing, was %s in %s", what, human.Bytes(s.BeforeBytes), s.Previous)
	}
	line := fmt.Sprintf("%s: %s, was %s in %s (−%d %%)", what, human.Bytes(s.AfterBytes), human.Bytes(s.BeforeBytes),
		s.Previous, drop(s.AfterBytes, s.BeforeBytes))
	if s.BeforeFiles > 0 {
		line += fmt.Sprintf("; %d files, was %d", s.AfterFiles, s.BeforeFiles)
	}
	return line
}

// drop is how much smaller after is than before, in whole percent.
func drop(after, before int64) int {
	if before <= 0 || after >= before {
		return 0
	}
	return int(100 - float64(after)*100/float64(before))
}

// Warnings are the lines an admin must read about m: one per flagged
// artifact, with what retention does about it, and the manifest's notes
// (a guard that could not be applied). None for a snapshot the guard
// found nothing in.
func Warnings(m *snapshot.Manifest) []string {
	if m == nil {
		return nil
	}
	var out []string
	for _, s := range m.Shrunk {
		out = append(out, fmt.Sprintf("%s: retention keeps %s until `mbackup accept-shrink %s`", Line(s), s.Previous, m.ID))
	}
	return append(out, m.Notes...)
}
