// Package engine is the contract between the program and each engine
// that backs a component up and restores it (PostgreSQL, MySQL, Redis, files):
// the engine's backup jobs on one side, on the other the step that puts
// one of its artifacts back onto a target.
//
// Invariants:
//   - An engine owns exactly one artifact.Component: every job it makes and
//     every artifact its Target takes is of that component.
//   - Jobs never fails: a server that cannot be reached becomes one failed
//     job named "server" (see Failed), so the other engines' jobs still run.
//   - A Target writes nothing in Plan, Check or Preflight; Apply is the
//     only method that changes its server, and Outcome.Restored says
//     whether the restore proper succeeded, even when the check after it
//     failed.
//   - Apply calls Options.Progress, when set, from one goroutine at a
//     time; the What it reports names objects (a table), never their
//     content.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"mbackup/internal/artifact"
	"mbackup/internal/config"
	"mbackup/internal/dump"
	"mbackup/internal/snapshot"
)

// Engine backs up one component and knows its artifacts.
type Engine interface {
	// Component is the component the engine's artifacts belong to.
	Component() artifact.Component
	// Title names the engine's servers in messages: "PostgreSQL".
	Title() string
	// Jobs returns the backup jobs of what cfg configures for the engine,
	// none when it configures nothing.
	Jobs(ctx context.Context, cfg *config.Config) []snapshot.Job
	// Scanner returns the meta-command scanner for the plaintext of a when
	// a is SQL fed to a client, nil otherwise (see snapshot.ReadBack).
	Scanner(a artifact.Ref) io.WriteCloser
	// RestoreOrder places the engine's steps in a restore: lower first.
	RestoreOrder() int
}

// Target is a place where one engine restores its artifacts: a server, a
// data directory.
type Target interface {
	// Component is the component the target takes.
	Component() artifact.Component
	// Plan returns the database a is restored as ("" when the target has
	// no databases, and for the globals) and what restoring it changes, in
	// a sentence.
	Plan(a artifact.Ref, clean bool) (database, does string)
	// Check refuses, before anything is written anywhere, a step that the
	// target would refuse at its turn.
	Check(ctx context.Context, a artifact.Ref, database string, clean bool) error
	// Apply restores file, the checked plaintext of a, as database, then
	// checks what it can (the row counts of every table against tables,
	// those recorded at backup).
	Apply(ctx context.Context, s Staged, opt Options) (Outcome, error)
}

// Informed is a Target that needs what the manifest recorded of an
// artifact (its dump.Info: the files component's list of files and their
// SHA-256) to plan, check and apply it. A restore calls Inform for every
// artifact it plans, before that artifact's Plan, Check and Apply; a
// Target that was not informed of an artifact refuses to apply it.
type Informed interface {
	Target
	Inform(a artifact.Ref, info dump.Info)
}

// InfoScanner is an Engine whose scanner (see Engine.Scanner) checks the
// plaintext of an artifact against what the manifest recorded of it: the
// files component checks every file of its tar against its size and
// SHA-256. A reader of artifacts (verify, a restore's preflight) prefers
// ScanInfo to Scanner when the engine has it.
type InfoScanner interface {
	Engine
	ScanInfo(a artifact.Ref, info dump.Info) io.WriteCloser
}

// Inform gives t what the manifest recorded of artifact a when t is an
// Informed target; it does nothing otherwise.
func Inform(t Target, a artifact.Ref, info dump.Info) {
	if in, ok := t.(Informed); ok {
		in.Inform(a, info)
	}
}

// ScannerOf is e's scanner of artifact a: ScanInfo when e is an
// InfoScanner, Scanner otherwise (nil when e has none).
func ScannerOf(e Engine, a artifact.Ref, info dump.Info) io.WriteCloser {
	if s, ok := e.(InfoScanner); ok {
		return s.ScanInfo(a, info)
	}
	return e.Scanner(a)
}

// Scratch is a Target of databases, which it can drop again: a drill
// restores into it, and restoring over databases that are not empty
// (clean) concerns it.
type Scratch interface {
	Target
	Drop(ctx context.Context, database string) error
}

// Drillable is an Engine whose scratch servers are given by URL.
type Drillable interface {
	Engine
	// ScratchTarget returns the Scratch target that u (with port, 0 when
	// u has none) names, or false when u's scheme is not the engine's.
	ScratchTarget(u *url.URL, port int) (Scratch, bool)
}

// Staged is one artifact ready to be applied.
type Staged struct {
	Artifact artifact.Ref
	Database string
	File     string            // the plaintext, checked against the manifest
	Tables   []dump.TableCount // row counts recorded at backup
}

// Preflighter is a Target whose check before the first write needs what
// the manifest recorded of the artifact (the server version of a dump,
// say). The restore calls Preflight instead of Check on such a target.
type Preflighter interface {
	Target
	// Preflight refuses, as Check does, a step the target would refuse,
	// and also one it cannot take (a server older than the dump's, a
	// missing extension). Its notes are what the operator should know
	// before the restore starts but does not stop it: what could not be
	// checked, what will be changed rather than created.
	Preflight(ctx context.Context, p Pending) (notes []string, err error)
}

// Pending is a step as the preflight sees it, before anything is staged.
type Pending struct {
	Artifact artifact.Ref
	Database string
	Clean    bool
	// Before are the artifacts the restore applies before this one (the
	// globals, which create the roles a database's owner may be).
	Before []artifact.Ref
	// Info is what the manifest recorded of the artifact at backup. It is
	// what the manifest says, so it may lie: nothing in it is run.
	Info dump.Info
	// SQL is the plaintext of an SQL artifact, which the preflight read
	// (checked against the manifest's sums) to scan it, when it is at most
	// MaxPendingSQL bytes; nil otherwise.
	SQL []byte
}

// MaxPendingSQL bounds Pending.SQL: the globals of a cluster take
// kilobytes.
const MaxPendingSQL = 8 << 20

// Options say how to apply a step.
type Options struct {
	Jobs  int  // parallel connections where the engine uses several; 0 means its default
	Clean bool // restore into databases that are not empty
	// Progress, when set, is told how far Apply is, as often as the
	// engine learns it (the caller throttles).
	Progress func(Progress)
}

// Progress is how far an Apply is.
type Progress struct {
	Done, Total int64  // Total is 0 when unknown
	Unit        string // Items or Bytes
	What        string // what it is at ("table public.statuses"), or ""
}

// The units of Progress.
const (
	Items = "items" // the entries of a pg_restore archive's table of contents
	Bytes = "bytes"
)

// Report calls p, when set, with pr.
func Report(p func(Progress), pr Progress) {
	if p != nil {
		p(pr)
	}
}

// Outcome is what Apply did.
type Outcome struct {
	// Restored is true once the restore proper succeeded.
	Restored bool
	// Tables is the number of tables whose row counts were checked.
	Tables int
	// Notes are lines for the report after the restore.
	Notes []string
	// Detail is the engine's own account of the step, if any.
	Detail any
}

// ErrNotEmpty is wrapped by a target's refusal of a database that exists
// and holds something, without the clean option.
var ErrNotEmpty = errors.New("the database exists and is not empty")

// Job is the backup job of artifact r made by produce.
func Job(r artifact.Ref, produce func(ctx context.Context, w io.Writer) (dump.Info, error)) snapshot.Job {
	return snapshot.Job{Component: string(r.Component), Name: r.Name, Ext: r.Kind.Ext(), Produce: produce}
}

// Failed is the one failed job of a server of component c that cannot be
// reached.
func Failed(c artifact.Component, err error) []snapshot.Job {
	return []snapshot.Job{{Component: string(c), Name: "server", Err: err}}
}

// CheckRows compares got, the row counts after a restore (err when
// counting failed), with want, those recorded at backup, and returns the
// number of tables counted.
func CheckRows(want, got []dump.TableCount, err error) (int, error) {
	if err != nil {
		return 0, fmt.Errorf("restored, but counting its rows failed: %w", err)
	}
	if diffs := CompareCounts(want, got); len(diffs) > 0 {
		return len(got), errors.New("restored, but row counts differ from the backup's: " + strings.Join(diffs, "; "))
	}
	return len(got), nil
}

// ProgressReader returns r, reporting to p (when set) the bytes read
// through it, of total.
func ProgressReader(r io.Reader, total int64, p func(Progress)) io.Reader {
	if p == nil {
		return r
	}
	return &progressReader{r: r, total: total, p: p}
}

type progressReader struct {
	r     io.Reader
	n     int64
	total int64
	p     func(Progress)
}

func (c *progressReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if n > 0 {
		c.n += int64(n)
		c.p(Progress{Done: c.n, Total: c.total, Unit: Bytes})
	}
	return n, err
}
