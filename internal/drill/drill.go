// Package drill is the unattended restore drill: it restores a snapshot
// into throwaway servers started from the binaries installed on this
// machine (package sandbox), checks what came back against the manifest,
// times every step and removes everything again.
//
// Invariants:
//
//   - Nothing outside one private directory (0700, under Options.Dir) is
//     written, and no server of the machine is touched: every server is
//     the drill's own, on a Unix socket in that directory (see sandbox).
//   - Before any server starts, the free space of Options.Dir must hold
//     the largest component's estimated footprint (components run one at a
//     time, each removed before the next) plus Options.Reserve; otherwise
//     Run refuses, with both numbers. The estimate, from the manifest's
//     plaintext sizes: a PostgreSQL or MySQL database takes twice its dump's
//     plaintext once restored (a pg_dump -Fc -Z0 or mysqldump holds the
//     rows as text and the indexes only as definitions; the heap is about
//     the size of that text and a Mastodon database's indexes about as
//     much again), every database of the component at once (the scratch
//     databases are dropped at the end), plus its largest dump staged, plus
//     serverBytes for the server's own files; a Redis RDB twice its size
//     (the staged copy and the one the server loads); a files artifact
//     nothing (it is checked as a stream).
//   - What is checked: every artifact is read back in full and must have
//     the stored and plaintext sizes and SHA-256 of the manifest (by
//     package restore, which also refuses client meta-commands);
//     PostgreSQL and MySQL: every table's row count equals the manifest's
//     and, for PostgreSQL, every role the globals created or found exists
//     in pg_roles afterwards; Redis: the server loads the RDB, and the
//     number of keys of each database equals what the manifest recorded,
//     within the bounds of the keys that expired by load time; files:
//     every file's SHA-256 equals the manifest's.
//   - What is always removed, when Run returns (success, failure or a
//     cancelled ctx): every server is stopped (its process group killed
//     after sandbox.StopTimeout) and waited for, and the private
//     directory, holding their data, their sockets and every staged file,
//     is removed.
//   - The Result holds no secret and no data: names, counts, durations
//     and error texts passed through redact.Patterns.
package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"

	"mbackup/internal/redact"
	"mbackup/internal/sandbox"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// Options say how to run a drill.
type Options struct {
	Store      storage.Store
	Identities []age.Identity
	// Dir is the parent of the private working directory; "" means
	// os.TempDir().
	Dir string
	// Progress, when set, gets one line as each step starts and ends.
	Progress io.Writer
	// Binaries says where the server programs are found; the zero value
	// is PATH, the sbin directories and /usr/lib/postgresql.
	Binaries sandbox.Binaries
	// Reserve is free space to leave in Dir beyond the estimate.
	Reserve int64
}

// The kinds of step (Step.What).
const (
	StartServer = "start server"
	Restore     = "restore"
	Check       = "check"
)

// Result is what a drill did: the record of one drill of one snapshot.
type Result struct {
	Snapshot string    `json:"snapshot"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	OK       bool      `json:"ok"`
	Steps    []Step    `json:"steps"`
	// Seconds is the whole drill: the time to restore this snapshot on
	// this machine (its RTO), servers' starts and checks included.
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// Step is one timed step of a drill.
type Step struct {
	Component string  `json:"component"`
	Name      string  `json:"name"` // the artifact's name, or "server"
	What      string  `json:"what"` // StartServer, Restore or Check
	Seconds   float64 `json:"seconds"`
	Checked   string  `json:"checked,omitempty"` // what was found equal, in a short line
	Error     string  `json:"error,omitempty"`
}

// ComponentSeconds is the time each component took, its server's start,
// restore and checks: its part of the restore time, for a metric.
func (r Result) ComponentSeconds() map[string]float64 {
	out := map[string]float64{}
	for _, s := range r.Steps {
		out[s.Component] += s.Seconds
	}
	return out
}

// cleanupTimeout bounds stopping the servers of a component once it is
// done, or once the drill was cancelled.
const cleanupTimeout = 3 * sandbox.StopTimeout

// drill is one run.
type drill struct {
	m   *snapshot.Manifest
	opt Options
	dir string // the private directory
	res *Result
}

// Run restores snapshot m (already authenticated by the caller) into
// throwaway servers and checks it, one component at a time: PostgreSQL,
// MySQL, Redis, files. A failed component does not stop the others; a
// cancelled ctx does. It returns an error naming the artifact when any
// step fails, and the Result describes every step done either way.
func Run(ctx context.Context, m *snapshot.Manifest, opt Options) (Result, error) {
	res := Result{Snapshot: m.ID, Started: time.Now().UTC()}
	err := run(ctx, m, opt, &res)
	res.Finished = time.Now().UTC()
	res.Seconds = res.Finished.Sub(res.Started).Seconds()
	res.OK = err == nil
	if err != nil {
		res.Error = clean(err)
	}
	return res, err
}

func run(ctx context.Context, m *snapshot.Manifest, opt Options, res *Result) error {
	if err := checkDisk(m, opt); err != nil {
		return err
	}
	dir, err := sandbox.PrivateDir(opt.Dir, "mbackup-drill-")
	if err != nil {
		return fmt.Errorf("drill: %w", err)
	}
	d := &drill{m: m, opt: opt, dir: dir, res: res}
	var errs []error
	for _, c := range []struct {
		component string
		run       func(context.Context) error
	}{{"postgres", d.postgres}, {"mysql", d.mysql}, {"redis", d.redis}, {"files", d.files}} {
		if !has(m, c.component) {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("drill: %s not drilled: %w", c.component, err))
			break
		}
		errs = append(errs, c.run(ctx))
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("drill: remove %s: %w", dir, err))
	}
	return errors.Join(errs...)
}

func has(m *snapshot.Manifest, component string) bool {
	for _, a := range m.Artifacts {
		if a.Component == component {
			return true
		}
	}
	return false
}

// running is a step being timed.
type running struct {
	d     *drill
	step  Step
	begin time.Time
}

// begin starts timing a step and says so on Progress.
func (d *drill) begin(component, name, what string) *running {
	d.progress("%s/%s: %s", component, name, what)
	return &running{d: d, step: Step{Component: component, Name: name, What: what}, begin: time.Now()}
}

// end records the step with what it checked, or its error.
func (r *running) end(checked string, err error) error {
	r.step.Seconds = time.Since(r.begin).Seconds()
	r.record(checked, err)
	return err
}

// record adds the step as it is (its Seconds set) to the result.
func (r *running) record(checked string, err error) {
	s := r.step
	if err != nil {
		s.Error = clean(err)
		r.d.progress("%s/%s: %s: FAILED after %.1fs: %s", s.Component, s.Name, s.What, s.Seconds, s.Error)
	} else {
		s.Checked = checked
		r.d.progress("%s/%s: %s: ok in %.1fs: %s", s.Component, s.Name, s.What, s.Seconds, checked)
	}
	r.d.res.Steps = append(r.d.res.Steps, s)
}

func (d *drill) progress(format string, a ...any) {
	if d.opt.Progress != nil {
		fmt.Fprintf(d.opt.Progress, format+"\n", a...)
	}
}

// stop stops a server, bounded by cleanupTimeout, and wraps its error.
func stop(what string, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("drill: stop the %s server: %w", what, err)
		}
		return nil
	case <-time.After(cleanupTimeout):
		return fmt.Errorf("drill: the %s server did not stop within %v", what, cleanupTimeout)
	}
}

// clean is err's text as a Result may hold it.
func clean(err error) string {
	return redact.Patterns(err.Error(), "[redacted]")
}

// count spells n with thousands separators: 1,234,567.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
