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

// command is one subcommand: its synopsis and one-line summary for the
// help, the man page and the completion scripts, whether it reads the
// configuration (only those take --config after their name), and its body,
// which parses its own flags from args with e.flagSet and parse.
type command struct {
	name    string
	args    string // positional arguments for the usage line, "" for none
	summary string
	config  bool
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{name: "quickstart", summary: "first run: identity, config and a verified snapshot of the local services in ./mbackup-quickstart/", run: runQuickstart},
		{name: "init", summary: "draft a config from Mastodon's settings (--from .env.production), secrets in 0600 files beside it", run: runInit},
		{name: "backup", summary: "take one snapshot now (--only " + strings.Join(engines.Names(), ",") + ")", config: true, run: runBackup},
		{name: "list", summary: "list snapshots, newest first (--json)", config: true, run: runList},
		{name: "accept-shrink", args: "ID", summary: "accept the drop the shrink guard flagged in snapshot ID, so retention stops holding the snapshot from before it", config: true, run: runAcceptShrink},
		{name: "prune", summary: "apply retention and delete the leftovers of interrupted runs (--dry-run: only print what would go)", config: true, run: runPrune},
		{name: "mirror", summary: "mirror the media bucket into the store, incrementally (--dry-run; --reverse --to-* copies it back into a bucket)", config: true, run: runMirror},
		{name: "verify", args: "[ID]", summary: "check the newest snapshot's stored hashes, or ID's, or --all; -i IDENTITY decrypts too; --restore-into URL restores into scratch servers and counts rows", config: true, run: runVerify},
		{name: "drill", args: "[ID]", summary: "restore the newest complete snapshot, or ID, into throwaway servers started here, check every table, key and file, time each step, record the result in the store", config: true, run: runDrill},
		{name: "daemon", summary: "run the schedules (backup and prune, mirror, verify), post to Slack, serve /metrics, until SIGTERM; SIGHUP reloads the configuration", config: true, run: runDaemon},
		{name: "check", summary: "preflight: every source and the store reached with the credentials given, each line ✅/⚠️/❌ with the fix (--notify posts to Slack)", config: true, run: runCheck},
		{name: "status", summary: "the newest good snapshot and its age, snapshots by status, next runs, the daemon's last runs (--json)", config: true, run: runStatus},
		{name: "restore", args: "[ID]", summary: "restore the newest complete snapshot, or ID: guided on a terminal, --yes and flags for scripts", config: true, run: runRestore},
		{name: "keygen", summary: "write a new age identity (0600, never overwritten) and print its recipient; --signing -o FILE: the backup host's signing key", run: runKeygen},
		{name: "completion", args: "bash|zsh|fish", summary: "print the shell completion script of mbackup for bash, zsh or fish", run: runCompletion},
		{name: "help", args: "[COMMAND]", summary: "show this help, or the help of a command; --man: the manual page", run: runHelp},
		{name: "version", summary: "print the version of mbackup and of the libraries it is built with", run: runVersion},
	}
}

// lookup returns the command called name.
func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// usageError marks a mistake on the command line: exit 2 and a hint.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// helpRequest is what parse returns for -h or --help: no failure, but the
// end of the command; report prints the command's help on standard output
// and exits 0.
type helpRequest struct{ fs *flag.FlagSet }

func (h *helpRequest) Error() string { return h.fs.Name() + ": help requested" }

// topUsage is the usage line of an invocation that names no command yet.
const topUsage = "usage: mbackup [--config FILE] [-v] COMMAND [flags]; mbackup --help lists the commands"

// run executes one mbackup invocation and returns its exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	e.toJournal()
	fs, showVersion := e.topFlags()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout)
			return exitOK
		}
		return report(ctx, e, usagef("%v\n%s", err, topUsage))
	}
	rest := fs.Args()
	if *showVersion {
		rest = append([]string{"version"}, rest...)
	}
	if len(rest) == 0 {
		printHelp(stderr)
		return exitUsage
	}
	c, ok := lookup(rest[0])
	if !ok {
		return report(ctx, e, usagef("unknown command %q%s", rest[0], suggest(rest[0])))
	}
	return report(ctx, e, c.run(ctx, e, rest[1:]))
}

// topFlags is the FlagSet of the top level, before the command: the
// global flags and --version.
func (e *env) topFlags() (*flag.FlagSet, *bool) {
	fs := e.flagSet("mbackup")
	return fs, fs.Bool("version", false, "print the version, as mbackup version does")
}

// isGlobal tells whether name is a global flag, one flagSet gives every
// command.
func isGlobal(name string) bool {
	return (&env{}).flagSet("mbackup").Lookup(name) != nil
}

// flagSet returns the FlagSet of command name with the global options, so
// they may be given after the command as well as before it: -v everywhere,
// --config only where the command reads a configuration. Before the command
// --config is always accepted (an alias may carry it), and the commands
// that read no configuration ignore it.
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
	if c, ok := lookup(name); !ok || c.config {
		fs.StringVar(&e.configPath, "config", e.configPath, "configuration `file`")
	} else {
		fs.Func("config", "refused: "+name+" reads no configuration", func(string) error {
			return fmt.Errorf("%s reads no configuration", name)
		})
	}
	fs.BoolVar(&e.verbose, "v", e.verbose, "verbose: debug log lines")
	fs.Func("log-format", "log lines as `text` (key=value, the default) or json", e.setLogFormat)
	return fs
}

// parse parses a subcommand's flags. -h and --help end the command with a
// helpRequest; a bad flag is a usage error carrying the command's usage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &helpRequest{fs}
		}
		return usagef("%s: %v\n%s", fs.Name(), err, commandUsage(fs))
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

// report prints err, if any, and maps it to the documented exit code.
func report(ctx context.Context, e *env, err error) int {
	var ue *usageError
	var ce *configError
	var pe *partialError
	var hr *helpRequest
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &hr):
		io.WriteString(e.stdout, commandHelp(hr.fs))
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
