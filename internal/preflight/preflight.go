// Package preflight probes everything a configuration names, before the
// first backup needs it: the recipients and the signing key, the store
// (list, write, read back, delete; for B2 the key, the bucket's
// encryption and Object Lock, lock.go), every source server, every entry of
// the files section (what the running user cannot read, the Mastodon
// secrets keys a .env.production lacks), the media bucket, what a restore
// drill needs on this machine (identity, directory, server programs) and
// Slack. Each probe returns results (what, a level, a message,
// and what to do when something is known to mend it); printing them is the
// caller's.
//
// Invariants:
//   - A probe writes nothing but its own marker object under check/ in
//     the store, which it deletes again, also when it fails half-way or
//     its context ends (under Object Lock the deletion is refused, or only
//     hides it: the marker stays until its lock ends, which the probe
//     reports as the lock at work); a source is only read (an RDB is read and
//     dropped, so is the tar of a files entry), and Slack is posted to
//     only when asked.
//   - No result holds a secret: secrets go to the clients and nowhere
//     else, and the clients keep them out of their errors.
//   - Fail means the backup (or restore) will fail as configured; Warn
//     means it works, but not as safely as it could.
package preflight

import (
	"context"

	"mbackup/internal/config"
	"mbackup/internal/explain"
	"mbackup/internal/sandbox"
)

// Level says how a probe went.
type Level int

const (
	OK   Level = iota // works
	Warn              // works, but see the message
	Fail              // will fail: the message says why, Fix what to do
)

// Result is one finding of a probe.
type Result struct {
	What    string // what was probed: "storage b2 key", "redis main"
	Level   Level
	Message string // what was found
	Fix     string // what to do about it; "" when nothing is known
}

// Text is the message, then " — " and the fix when there is one: the
// cause first, then what to do.
func (r Result) Text() string {
	if r.Fix == "" {
		return r.Message
	}
	return r.Message + " — " + r.Fix
}

// Options are what the probes need beside the configuration.
type Options struct {
	// ConfigPath is the configuration's file: an age identity beside it
	// is reported.
	ConfigPath string
	// Notify posts a test message to Slack; otherwise Slack is only set up.
	Notify bool
	// Secrets are the configuration's secrets, kept out of a Slack message.
	Secrets []string
}

// Run runs the probes cfg calls for, in order, and hands each probe's
// results to report as soon as the probe is done.
func Run(ctx context.Context, cfg *config.Config, o Options, report func([]Result)) {
	if cfg.Verifier() { // it holds the identity and backs up nothing
		report(verifierSigner(cfg))
	} else {
		report(recipients(cfg))
		report(signing(cfg))
		report(identities(identityDirs(o.ConfigPath)))
	}
	rs, entries := store(ctx, cfg.Storage)
	report(rs)
	if cfg.Postgres != nil {
		report(postgres(ctx, cfg.Postgres))
	}
	for i, r := range cfg.Redis {
		report(redis(ctx, i, r))
	}
	if cfg.MySQL != nil {
		report(mysql(ctx, cfg.MySQL))
	}
	if cfg.Media != nil {
		report(media(ctx, cfg.Media))
	}
	for _, entry := range cfg.Files {
		report(files(ctx, entry))
	}
	if cfg.Drill != nil {
		report(drill(cfg.Drill, sandbox.Binaries{}))
	}
	report(slack(ctx, cfg, o.Notify, o.Secrets, entries))
}

// results collects the results of one probe about one thing.
type results struct {
	what string
	rs   []Result
}

func (r *results) ok(msg string) { r.add(OK, msg, "") }

func (r *results) warn(msg, fix string) { r.add(Warn, msg, fix) }

func (r *results) fail(msg, fix string) { r.add(Fail, msg, fix) }

// explained fails with err as an admin reads it: the cause, then the fix.
func (r *results) explained(err error, s explain.Source) {
	x := explain.Of(err, s)
	r.fail(x.Cause, x.Fix)
}

func (r *results) add(l Level, msg, fix string) {
	r.rs = append(r.rs, Result{What: r.what, Level: l, Message: msg, Fix: fix})
}
