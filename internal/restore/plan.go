// Package restore brings the artifacts of a snapshot back onto servers:
// PostgreSQL globals and databases, MySQL/MariaDB databases, Redis RDB
// files and the files entries (tars checked file by file). It reaches each through its engine (package engines) and the
// engine's Target, by the artifact's component, never by its name.
//
// Invariants:
//   - Nothing is written to any target before every selected artifact was
//     read in full (streamed, nothing staged) and found with the stored
//     size and stored SHA-256 its manifest records, opening with the
//     identities given, and before every target was found ready (a
//     database that exists is empty unless Clean; every PostgreSQL server
//     at least as new as the dump's, the local pg_restore at least as new
//     as the pg_dump, every extension recorded available, the owner
//     present or created by the globals first; MySQL reachable; a Redis
//     directory writable, with no server running in it and no appendonly
//     files; no file a files target would overwrite unless Clean) and the
//     staging directory can hold the largest plaintext: a missing,
//     truncated or altered artifact, a wrong identity, an unknown snapshot
//     or a target that would refuse its step change nothing, and the
//     error lists every problem found.
//   - No client meta-command from an artifact runs on the restore host.
//     The SQL artifacts fed to a client (the PostgreSQL globals to psql,
//     MySQL dumps to mariadb) are decrypted and decompressed in that
//     first read too, their plaintext size and SHA-256 checked and their
//     text scanned (package metacmd): one that holds a meta-command (\! and
//     the like) is refused, naming the artifact and the line, before the
//     first step. The step itself runs psql inside a \restrict block with
//     a random key, and mariadb with --sandbox and --binary-mode, so the
//     client refuses a command even if the scan missed one.
//   - Each artifact is staged, decrypted and decompressed, into a private
//     directory (0700) under Options.StagingDir, and applied only when its
//     stored and plaintext sizes and SHA-256 equal the manifest's again
//     (the store may have changed since the first read). Steps run one
//     after the other and the first failure stops the restore; the steps
//     before it stay done, and the plan says so before anything starts.
//   - Staged files are removed after their step and the staging directory
//     at the end, whatever happened. Only one artifact is staged at a time,
//     so the disk needed is the largest artifact's plaintext, which is
//     checked before staging it.
//   - PostgreSQL and MySQL restores are checked afterwards: the row count
//     of every table must equal the count the manifest recorded at backup.
package restore

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"mbackup/internal/artifact"
	"mbackup/internal/engine"
	"mbackup/internal/engines"
	"mbackup/internal/snapshot"
)

// Targets are where the components go, one per component (the last one
// given counts); a component without a target is not restored.
type Targets []engine.Target

// of returns the target of component c, nil when none was given.
func (t Targets) of(c artifact.Component) engine.Target {
	var found engine.Target
	for _, x := range t {
		if x != nil && x.Component() == c {
			found = x
		}
	}
	return found
}

// Step is one artifact to restore and what restoring it does.
type Step struct {
	Artifact snapshot.Artifact
	// Database is the name the artifact is restored as (its own name,
	// unless a drill or As renames it); empty for globals and Redis.
	Database string
	// Does says what the step changes on its target, in a sentence.
	Does string
}

// Name is component/name, as selectors spell it.
func (s Step) Name() string { return s.Artifact.Component + "/" + s.Artifact.Name }

// Plan selects the artifacts of m named by only ("postgres", "mysql",
// "redis", or "component/name" such as "postgres/mastodon_production";
// empty means all) and returns the steps restoring them into t, ordered by
// their engines' RestoreOrder: globals first, then PostgreSQL databases,
// MySQL databases and Redis. A selector that matches nothing, or a
// selected component without a target, is an error that lists what the
// snapshot has.
func Plan(m *snapshot.Manifest, only []string, t Targets, clean bool) ([]Step, error) {
	for _, sel := range only {
		if !slices.ContainsFunc(m.Artifacts, func(a snapshot.Artifact) bool { return selects(sel, a) }) {
			return nil, fmt.Errorf("restore: snapshot %s has nothing named %q (it has %s)", m.ID, sel, strings.Join(names(m), ", "))
		}
	}
	var steps []Step
	for _, a := range m.Artifacts {
		if len(only) > 0 && !slices.ContainsFunc(only, func(sel string) bool { return selects(sel, a) }) {
			continue
		}
		s, err := step(a, t, clean)
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("restore: snapshot %s holds no artifact to restore", m.ID)
	}
	slices.SortStableFunc(steps, func(a, b Step) int {
		return cmp.Compare(restoreOrder(a.Artifact), restoreOrder(b.Artifact))
	})
	return steps, nil
}

func restoreOrder(a snapshot.Artifact) int {
	e, _ := engines.Find(artifact.Component(a.Component))
	return e.RestoreOrder()
}

func selects(sel string, a snapshot.Artifact) bool {
	return sel == a.Component || sel == a.Component+"/"+a.Name
}

// names lists the artifacts of m as selectors spell them.
func names(m *snapshot.Manifest) []string {
	var ns []string
	for _, a := range m.Artifacts {
		ns = append(ns, a.Component+"/"+a.Name)
	}
	return ns
}

func step(a snapshot.Artifact, t Targets, clean bool) (Step, error) {
	s := Step{Artifact: a}
	e, known := engines.Find(artifact.Component(a.Component))
	if !known {
		return s, fmt.Errorf("restore: %s: unknown component %q (made by a newer mbackup?)", s.Name(), a.Component)
	}
	target := t.of(e.Component())
	if target == nil {
		return s, fmt.Errorf("restore: %s: no %s target given", s.Name(), e.Title())
	}
	s.Database, s.Does = target.Plan(a.Ref(), clean)
	return s, nil
}

// As renames the one database step of steps: it is restored as name, and
// its sentence says so. It refuses, changing nothing, a plan that is not
// exactly one step of a database (the globals and Redis have no name to
// change) and a name the step's engine cannot hold.
func As(steps []Step, name string, t Targets, clean bool) ([]Step, error) {
	if len(steps) != 1 || steps[0].Database == "" {
		return nil, fmt.Errorf("restore: --as %s restores one PostgreSQL or MySQL database under another name, "+
			"but the selection holds %s: select exactly one database (--only postgres/DB or --only mysql/DB)", name, stepNames(steps))
	}
	s := steps[0]
	if err := validName(artifact.Component(s.Artifact.Component), name); err != nil {
		return nil, fmt.Errorf("restore: --as %q: %w", name, err)
	}
	target := t.of(artifact.Component(s.Artifact.Component))
	if target == nil {
		return nil, fmt.Errorf("restore: %s: no target given", s.Name())
	}
	ref := s.Artifact.Ref()
	ref.Name = name
	s.Database, s.Does = target.Plan(ref, clean)
	s.Does += fmt.Sprintf(" (%s under another name)", s.Name())
	return []Step{s}, nil
}

// stepNames lists steps as selectors spell them.
func stepNames(steps []Step) string {
	var ns []string
	for _, s := range steps {
		if s.Database == "" {
			ns = append(ns, s.Name()+" (not a database)")
		} else {
			ns = append(ns, s.Name())
		}
	}
	return strings.Join(ns, ", ")
}

// systemNames are the databases of a server that a restore under another
// name must not fill: PostgreSQL's templates are copied into every new
// database, MySQL's schemas hold its accounts and state.
var systemNames = map[artifact.Component][]string{
	artifact.Postgres: {"template0", "template1"},
	artifact.MySQL:    {"mysql", "information_schema", "performance_schema", "sys"},
}

// validName refuses a database name that the engine of c cannot hold:
// PostgreSQL takes up to 63 bytes, MySQL up to 64 characters of the Basic
// Multilingual Plane, not ending in a space; neither takes a NUL byte,
// nor one of its system databases (systemNames).
func validName(c artifact.Component, name string) error {
	switch {
	case name == "":
		return errors.New("a database name cannot be empty")
	case !utf8.ValidString(name):
		return errors.New("not valid UTF-8")
	case strings.ContainsRune(name, 0):
		return errors.New("a database name cannot hold a NUL byte")
	}
	if slices.Contains(systemNames[c], strings.ToLower(name)) {
		return fmt.Errorf("%s is a system database of the server, not one to restore into", name)
	}
	switch c {
	case artifact.MySQL:
		if n := utf8.RuneCountInString(name); n > 64 {
			return fmt.Errorf("%d characters, MySQL takes at most 64", n)
		}
		if strings.HasSuffix(name, " ") {
			return errors.New("MySQL refuses a database name that ends with a space")
		}
		if strings.ContainsFunc(name, func(r rune) bool { return r > 0xFFFF }) {
			return errors.New("MySQL refuses characters outside the Basic Multilingual Plane in names")
		}
	default:
		if len(name) > maxNameLen {
			return fmt.Errorf("%d bytes, PostgreSQL takes at most %d (it would cut the name short)", len(name), maxNameLen)
		}
	}
	return nil
}
