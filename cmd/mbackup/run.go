package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"mbackup/internal/engines"
	"mbackup/internal/progress"
)

// Exit codes, documented in "mbackup help".
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2 // bad command line or configuration
	exitPartial     = 3 // a snapshot was committed without some components
	exitInterrupted = 130
)

// env is what every subcommand gets: its streams and the global options.
type env struct {
	ctx            context.Context // the invocation's: cancelled by SIGTERM and Ctrl-C
	stdin          io.Reader
	stdout, stderr io.Writer
	configPath     string
	verbose        bool
	logFormat      string             // --log-format: text or json (logging.go)
	journal        bool               // stderr is the journal's stream (logging.go)
	ttyOnce        sync.Once          // e.terminal
	tty            *progress.Terminal // e.terminal
}

// command is one subcommand: its one-line summary for help, and its body,
// which parses its own flags from args.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"quickstart", "first run: identity, config and a verified snapshot of the local services in ./mbackup-quickstart/", runQuickstart},
		{"init", "--from .env.production [-o mbackup.yaml]: draft a config from Mastodon's settings, secrets in 0600 files beside it", runInit},
		{"backup", "take one snapshot now (--only " + strings.Join(engines.Names(), ",") + ")", runBackup},
		{"list", "list snapshots, newest first (--json)", runList},
		{"accept-shrink", "ID: accept the drop the shrink guard flagged in snapshot ID, so retention stops holding the snapshot from before it", runAcceptShrink},
		{"prune", "apply retention and delete the leftovers of interrupted runs (--dry-run: only print what would go)", runPrune},
		{"mirror", "mirror the media bucket into the store, incrementally (--dry-run; --reverse --to-* copies it back into a bucket)", runMirror},
		{"verify", "[ID|--all] check the newest snapshot's stored hashes; -i IDENTITY decrypts too; --restore-into URL restores into scratch servers and counts rows", runVerify},
		{"drill", "[ID] restore the newest complete snapshot, or ID, into throwaway servers started here, check every table, key and file, time each step, record the result in the store", runDrill},
		{"daemon", "run the schedules (backup and prune, mirror, verify), post to Slack, serve /metrics, until SIGTERM; SIGHUP reloads the configuration", runDaemon},
		{"check", "preflight: every source and the store reached with the credentials given, each line ✅/⚠️/❌ with the fix (--notify posts to Slack)", runCheck},
		{"status", "the newest good snapshot and its age, snapshots by status, next runs, the daemon's last runs (--json)", runStatus},
		{"restore", "[ID] restore the newest complete snapshot, or ID: guided on a terminal, --yes and flags for scripts", runRestore},
		{"keygen", "write a new age identity (0600, never overwritten) and print its recipient; --signing -o FILE: the backup host's signing key", runKeygen},
		{"help", "show this help, or the help of a command", runHelp},
		{"version", "print the version of mbackup and of the libraries it is built with", runVersion},
	}
}

// usageError marks a mistake on the command line: exit 2 and a hint.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// run executes one mbackup invocation and returns its exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	e.toJournal()
	fs := e.flagSet("mbackup")
	if err := fs.Parse(args); err != nil {
		return report(ctx, e, usagef("%v", err))
	}
	rest := fs.Args()
	if len(rest) == 0 {
		printHelp(stderr)
		return exitUsage
	}
	for _, c := range commands() {
		if c.name == rest[0] {
			return report(ctx, e, c.run(ctx, e, rest[1:]))
		}
	}
	return report(ctx, e, usagef("unknown command %q%s", rest[0], suggest(rest[0])))
}

// flagSet returns a FlagSet that knows the global options, so they may be
// given before or after the subcommand.
func (e *env) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def := os.Getenv("MBACKUP_CONFIG")
	if def == "" {
		def = "/etc/mbackup/mbackup.yaml"
	}
	if e.configPath == "" {
		e.configPath = def
	}
	fs.StringVar(&e.configPath, "config", e.configPath, "configuration `file`")
	fs.BoolVar(&e.verbose, "v", e.verbose, "verbose: debug log lines")
	fs.Func("log-format", "log lines as `text` (key=value, the default) or json", e.setLogFormat)
	return fs
}

// parse parses a subcommand's flags, turning flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return usagef("usage: mbackup %s [flags]\n%s", fs.Name(), flagHelp(fs))
		}
		return usagef("%s: %v\n%s", fs.Name(), err, flagHelp(fs))
	}
	return nil
}

// parseMixed parses flags given before and after positional arguments
// ("restore ID --yes" as well as "restore --yes ID") and returns the
// positional ones.
func parseMixed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func flagHelp(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
}

// report prints err, if any, and maps it to the documented exit code.
func report(ctx context.Context, e *env, err error) int {
	var ue *usageError
	var ce *configError
	var pe *partialError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &pe):
		fmt.Fprintf(e.stderr, "mbackup: %v\n", err)
		return exitPartial
	case errors.As(err, &ce):
		fmt.Fprintf(e.stderr, "mbackup: %v\n", err)
		return exitUsage
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintln(e.stderr, "mbackup: interrupted")
		return exitInterrupted
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "mbackup: %v\n", err)
		if !strings.Contains(ue.msg, "usage:") {
			fmt.Fprintln(e.stderr, `run "mbackup help" for the list of commands`)
		}
		return exitUsage
	default:
		fmt.Fprintf(e.stderr, "mbackup: %v\n", err)
		return exitError
	}
}

// suggest names the known command closest to an unknown one.
func suggest(name string) string {
	best, bestD := "", 3
	for _, c := range commands() {
		if d := distance(name, c.name); d < bestD {
			best, bestD = c.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
