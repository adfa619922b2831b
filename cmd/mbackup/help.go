package main

// The help text has one source: the command table (commands), each
// command's own FlagSet (got by running it with -h, which every command
// answers before doing anything else), globalFlags and exitCodes. The
// top-level help, a command's help, the man page (man.go) and the
// completion scripts (completion.go) are renderings of it, so they cannot
// disagree. A command's help lists only its own flags; the global ones are
// listed once, in the top-level help.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// helpWidth is the width the help text is wrapped to.
const helpWidth = 79

// item is one entry of a list in the help: a term and what it means.
type item struct{ term, text string }

// description is the top of the help and of the man page.
const description = "mbackup backs up a Mastodon instance: PostgreSQL, Redis, MySQL/MariaDB and media, " +
	"compressed with zstd and encrypted with age, into B2, S3 or a local directory."

// globalFlags are the options of every command, given before it (or after
// it, where the command takes them).
func globalFlags() []item {
	return []item{
		{"--config FILE", "configuration file (default $MBACKUP_CONFIG, else /etc/mbackup/mbackup.yaml); " +
			"after the command name only where the command reads one"},
		{"-v", "verbose: debug log lines"},
		{"--log-format", "text (key=value lines, the default) or json; under systemd each line starts with its priority and has no time"},
		{"-h, --help", "this help; mbackup COMMAND --help: the command's usage and flags"},
		{"--version", "print the version, as mbackup version does"},
	}
}

// exitCodes are the documented exit codes.
func exitCodes() []item {
	return []item{
		{"0", "success"},
		{"1", "error: the operation failed (the message says why)"},
		{"2", "usage or configuration error: fix the command line or the config file"},
		{"3", "partial snapshot: committed, but some components failed (listed in its manifest)"},
		{"130", "interrupted (SIGINT or SIGTERM); nothing half-written is left visible"},
	}
}

func runHelp(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("help")
	man := fs.Bool("man", false, "print the manual page (roff) instead, for man -l - or a file in /usr/local/share/man/man1/mbackup.1")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *man && fs.NArg() > 0:
		return usagef("help: --man prints the whole manual: give no command\n%s", commandUsage(fs))
	case *man:
		_, err := io.WriteString(e.stdout, manPage(ctx))
		return err
	case fs.NArg() == 0:
		printHelp(e.stdout)
		return nil
	case fs.NArg() > 1:
		return usagef("help: one command at most, got %q\n%s", fs.Args(), commandUsage(fs))
	}
	c, ok := lookup(fs.Arg(0))
	if !ok {
		return usagef("help: unknown command %q%s", fs.Arg(0), suggest(fs.Arg(0)))
	}
	_, err := io.WriteString(e.stdout, commandHelp(commandFlags(ctx, c)))
	return err
}

// commandFlags returns the FlagSet command c parses, by running it with -h.
func commandFlags(ctx context.Context, c command) *flag.FlagSet {
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	var hr *helpRequest
	if err := c.run(ctx, e, []string{"-h"}); errors.As(err, &hr) {
		return hr.fs
	}
	// Every command parses its flags first (TestCommandHelp holds them to
	// it); one that did not still gets its summary shown.
	return flag.NewFlagSet(c.name, flag.ContinueOnError)
}

func printHelp(w io.Writer) {
	var b strings.Builder
	b.WriteString(wrap(description, helpWidth, 0))
	b.WriteString("\nUsage: mbackup [--config FILE] [-v] COMMAND [flags]\n")
	b.WriteString("       mbackup COMMAND --help\n\nCommands:\n")
	cmds := commands()
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.name))
	}
	for _, c := range cmds {
		writeItem(&b, c.name, c.summary, 2, 2+width+2)
	}
	b.WriteString("\nGlobal flags:\n")
	for _, g := range globalFlags() {
		writeItem(&b, g.term, g.text, 2, 17)
	}
	b.WriteString("\nExit codes:\n")
	for _, x := range exitCodes() {
		writeItem(&b, x.term, x.text, 2, 7)
	}
	io.WriteString(w, b.String())
}

// commandHelp is the help of the command whose FlagSet fs is: its summary,
// its usage line and its own flags.
func commandHelp(fs *flag.FlagSet) string {
	var b strings.Builder
	c, _ := lookup(fs.Name())
	b.WriteString(wrap("mbackup "+c.name+": "+c.summary, helpWidth, 0))
	b.WriteString("\n")
	b.WriteString(commandUsage(fs))
	return b.String()
}

// commandUsage is a command's usage line, its own flags, and where the
// global ones are.
func commandUsage(fs *flag.FlagSet) string {
	var b strings.Builder
	c, _ := lookup(fs.Name())
	fmt.Fprintf(&b, "usage: %s\n", synopsis(c, len(ownFlags(fs)) > 0))
	if h := flagHelp(fs); h != "" {
		b.WriteString("\nflags:\n")
		b.WriteString(h)
	}
	global := "global flags: see mbackup --help"
	if !c.config {
		global += " (" + c.name + " reads no configuration: no --config)"
	}
	b.WriteString("\n" + wrap(global, helpWidth, 0))
	return b.String()
}

// synopsis is "mbackup NAME [flags] ARGS".
func synopsis(c command, flags bool) string {
	s := "mbackup " + c.name
	if flags {
		s += " [flags]"
	}
	if c.args != "" {
		s += " " + c.args
	}
	return s
}

// flagHelp lists the command's own flags, each with its usage below it.
func flagHelp(fs *flag.FlagSet) string {
	var b strings.Builder
	for _, f := range ownFlags(fs) {
		b.WriteString("  " + flagTerm(f) + "\n")
		b.WriteString(wrap(flagText(f), helpWidth, 8))
	}
	return b.String()
}

// ownFlags are the flags of fs but the global ones, sorted by name.
func ownFlags(fs *flag.FlagSet) []*flag.Flag {
	var own []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !isGlobal(f.Name) {
			own = append(own, f)
		}
	})
	sort.Slice(own, func(i, j int) bool { return own[i].Name < own[j].Name })
	return own
}

// flagName is the flag as it is written: -x for one letter, --name else.
func flagName(f *flag.Flag) string {
	if len(f.Name) == 1 {
		return "-" + f.Name
	}
	return "--" + f.Name
}

// flagTerm is the flag with its value's name: "--only components".
func flagTerm(f *flag.Flag) string {
	if v := valueName(f); v != "" {
		return flagName(f) + " " + v
	}
	return flagName(f)
}

// valueName is the name of the flag's value ("" for a boolean flag): the
// back-quoted word of its usage, else the kind of value.
func valueName(f *flag.Flag) string {
	if isBool(f) {
		return ""
	}
	name, _ := flag.UnquoteUsage(f)
	return name
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// flagText is the flag's usage with its default, when it has one.
func flagText(f *flag.Flag) string {
	_, usage := flag.UnquoteUsage(f)
	switch f.DefValue {
	case "", "false", "0", "0s", "[]":
		return usage
	}
	return usage + " (default " + f.DefValue + ")"
}

// writeItem writes term at indent and text beside it at column col, or
// below it when the term is too wide, wrapped to helpWidth.
func writeItem(b *strings.Builder, term, text string, indent, col int) {
	lead := strings.Repeat(" ", indent) + term
	if len(lead)+2 > col {
		b.WriteString(lead + "\n")
		b.WriteString(wrap(text, helpWidth, col))
		return
	}
	w := wrap(text, helpWidth, col)
	b.WriteString(lead + w[len(lead):])
}

// wrap breaks text into lines of at most width columns (a longer word
// stays whole), each indented by indent spaces, each ending in a newline.
func wrap(text string, width, indent int) string {
	var b strings.Builder
	pad := strings.Repeat(" ", indent)
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && indent+runeLen(line)+1+runeLen(word) > width {
			b.WriteString(pad + line + "\n")
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	b.WriteString(pad + line + "\n")
	return b.String()
}

func runeLen(s string) int { return len([]rune(s)) }
