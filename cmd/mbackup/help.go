package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

func runHelp(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("help")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		printHelp(e.stdout)
		return nil
	}
	name := fs.Arg(0)
	for _, c := range commands() {
		if c.name == name {
			// Every command answers -h with its usage and flags.
			err := c.run(ctx, &env{ctx: ctx, stdout: e.stdout, stderr: e.stderr}, []string{"-h"})
			if ue, ok := err.(*usageError); ok {
				fmt.Fprintf(e.stdout, "%s\n\n%s\n", c.summary, ue.msg)
				return nil
			}
			fmt.Fprintln(e.stdout, c.summary)
			return nil
		}
	}
	return usagef("help: unknown command %q%s", name, suggest(name))
}

func printHelp(w io.Writer) {
	var b strings.Builder
	b.WriteString("mbackup backs up a Mastodon instance: PostgreSQL, Redis, MySQL/MariaDB and media,\n")
	b.WriteString("compressed with zstd and encrypted with age, into B2, S3 or a local directory.\n\n")
	b.WriteString("Usage: mbackup [--config FILE] [-v] COMMAND [flags]\n\nCommands:\n")
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	b.WriteString(`
Global flags:
  --config FILE  configuration file (default $MBACKUP_CONFIG, else /etc/mbackup/mbackup.yaml)
  -v             verbose: debug log lines
  --log-format F log lines as text (key=value, the default) or json

Exit codes:
  0    success
  1    error: the operation failed (the message says why)
  2    usage or configuration error: fix the command line or the config file
  3    partial snapshot: committed, but some components failed (listed in its manifest)
  130  interrupted (SIGINT or SIGTERM); nothing half-written is left visible
`)
	io.WriteString(w, b.String())
}
