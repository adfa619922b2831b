package main

import (
	"context"
	"fmt"
	"io"

	"mbackup/internal/preflight"
	"mbackup/internal/task"
)

// marks begin a check's line: ✅, ⚠️ (works, but see the hint) or ❌
// (will fail, with the fix).
var marks = [...]string{preflight.OK: "✅ ", preflight.Warn: "⚠️  ", preflight.Fail: "❌ "}

// checker prints one line per result. Any ❌ makes "mbackup check" exit 1.
type checker struct {
	w      io.Writer
	failed int
}

func (c *checker) print(rs []preflight.Result) {
	for _, r := range rs {
		if r.Level == preflight.Fail {
			c.failed++
		}
		fmt.Fprintf(c.w, "%s%s: %s\n", marks[r.Level], r.What, r.Text())
	}
}

func runCheck(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("check")
	notifyToo := fs.Bool("notify", false, "also post a test message to Slack")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("check: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	c := &checker{w: e.stdout}
	c.print([]preflight.Result{{What: "config", Level: preflight.OK, Message: e.configPath + " loads"},
		{What: "retention", Level: preflight.OK, Message: cfg.Retention.Describe()}})
	preflight.Run(ctx, cfg, preflight.Options{ConfigPath: e.configPath, Notify: *notifyToo, Secrets: task.Secrets(cfg)}, c.print)
	if c.failed > 0 {
		return fmt.Errorf("check: %d of the checks above failed", c.failed)
	}
	return nil
}
