package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"mbackup/internal/config"
	"mbackup/internal/preflight"
	"mbackup/internal/task"
)

// marks begin a check's line: ✅, ⚠️ (works, but see the hint) or ❌
// (will fail, with the fix).
var marks = [...]string{preflight.OK: "✅ ", preflight.Warn: "⚠️  ", preflight.Fail: "❌ "}

// checker prints one line per result, or with --json keeps the results
// for the document. Any ❌ makes "mbackup check" exit 1.
type checker struct {
	w      io.Writer // nil with --json
	failed int
	all    []preflight.Result
	lock   *checkLockJSON // storage.lock, for --json
}

func (c *checker) print(rs []preflight.Result) {
	for _, r := range rs {
		if r.Level == preflight.Fail {
			c.failed++
		}
		c.all = append(c.all, r)
		if c.w != nil {
			fmt.Fprintf(c.w, "%s%s: %s\n", marks[r.Level], r.What, r.Text())
		}
	}
}

func runCheck(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("check")
	notifyToo := fs.Bool("notify", false, "also post a test message to Slack")
	asJSON := fs.Bool("json", false, "print every check as one JSON document on standard output (see the README's \"JSON output\")")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("check: unexpected argument %q", fs.Arg(0))
	}
	c := &checker{w: e.stdout}
	if *asJSON {
		c.w = nil
	}
	err := check(ctx, e, c, *notifyToo)
	if *asJSON {
		d := checkDoc(ctx, c, err)
		d.Lock = c.lock
		return errors.Join(err, printJSON(e.stdout, d))
	}
	return err
}

// check runs the preflight, handing each result to c.
func check(ctx context.Context, e *env, c *checker, notifyToo bool) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	c.lock = lockDoc(cfg)
	c.print([]preflight.Result{{What: "config", Level: preflight.OK, Message: e.configPath + " loads"},
		{What: "retention", Level: preflight.OK, Message: cfg.Retention.Describe()}})
	preflight.Run(ctx, cfg, preflight.Options{ConfigPath: e.configPath, Notify: notifyToo, Secrets: task.Secrets(cfg)}, c.print)
	if c.failed > 0 {
		return fmt.Errorf("check: %d of the checks above failed", c.failed)
	}
	return nil
}

// lockDoc is storage.lock of cfg for check --json; nil without one.
func lockDoc(cfg *config.Config) *checkLockJSON {
	l := cfg.Storage.Lock
	if l == nil {
		return nil
	}
	d := &checkLockJSON{Mode: l.Mode, Days: l.Days}
	if interval, err := config.BackupInterval(cfg.Schedule.Backup); err == nil {
		d.MinDays = config.MinLockDays(cfg.Retention.KeepWithin.Std(), interval)
	}
	return d
}

// checkJSON is what "mbackup check --json" prints.
type checkJSON struct {
	OK       bool              `json:"ok"` // no check failed and the configuration loaded
	Failed   int               `json:"failed"`
	Warnings int               `json:"warnings"`
	Checks   []checkResultJSON `json:"checks"` // in the order they ran
	// Lock is storage.lock as configured; null when it is not set or the
	// configuration did not load. The checks about it are those whose
	// what starts with "storage b2 lock", "storage b2 key" and "storage
	// b2 lifecycle".
	Lock  *checkLockJSON `json:"lock"`
	Error string         `json:"error"`
}

// checkLockJSON is storage.lock and the shortest days the configuration
// allows (retention.keep_within plus one backup interval).
type checkLockJSON struct {
	Mode    string `json:"mode"`
	Days    int    `json:"days"`
	MinDays int    `json:"min_days"`
}

// checkResultJSON is one check: level ok, warn or fail.
type checkResultJSON struct {
	What    string `json:"what"`
	Level   string `json:"level"`
	Message string `json:"message"`
	Fix     string `json:"fix"` // "" when there is nothing to do
}

// levels name the levels in the document.
var levels = [...]string{preflight.OK: "ok", preflight.Warn: "warn", preflight.Fail: "fail"}

// checkDoc describes the checks c collected, ended with err.
func checkDoc(ctx context.Context, c *checker, err error) checkJSON {
	d := checkJSON{OK: err == nil, Failed: c.failed, Checks: []checkResultJSON{}, Error: errText(ctx, err)}
	for _, r := range c.all {
		if r.Level == preflight.Warn {
			d.Warnings++
		}
		d.Checks = append(d.Checks, checkResultJSON{What: r.What, Level: levels[r.Level], Message: r.Message, Fix: r.Fix})
	}
	return d
}
