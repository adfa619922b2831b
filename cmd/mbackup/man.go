package main

// manPage renders the help (help.go) as a man(7) page, so that
// "mbackup help --man" and "mbackup --help" say the same things.

import (
	"context"
	"fmt"
	"strings"
)

// manPage is the mbackup(1) manual page in roff, man macros.
func manPage(ctx context.Context) string {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH MBACKUP 1 \"\" %s \"mbackup manual\"\n", roffQuote("mbackup "+buildVersion()))
	// No hyphenation, ragged right: flags and paths stay whole.
	b.WriteString(".nh\n.ad l\n")
	b.WriteString(".SH NAME\nmbackup \\- back up and restore a Mastodon instance\n")
	b.WriteString(".SH SYNOPSIS\n.B mbackup\n[\\fB\\-\\-config\\fR \\fIFILE\\fR] [\\fB\\-v\\fR] \\fICOMMAND\\fR [\\fIflags\\fR]\n")
	b.WriteString(".br\n.B mbackup\n\\fICOMMAND\\fR \\fB\\-\\-help\\fR\n")
	b.WriteString(".SH DESCRIPTION\n" + roffText(description) + "\n")
	b.WriteString(".SH COMMANDS\n")
	for _, c := range commands() {
		fs := commandFlags(ctx, c)
		b.WriteString(".SS " + roffQuote(synopsis(c, len(ownFlags(fs)) > 0)) + "\n")
		b.WriteString(roffText(c.summary) + "\n")
		if !c.config {
			b.WriteString(".PP\n" + roffText(c.name+" reads no configuration: no --config.") + "\n")
		}
		for _, f := range ownFlags(fs) {
			manItem(&b, flagTerm(f), flagText(f))
		}
	}
	b.WriteString(".SH OPTIONS\nThe global flags, given before the command (or after it, where the command takes them):\n")
	for _, g := range globalFlags() {
		manItem(&b, g.term, g.text)
	}
	b.WriteString(".SH EXIT STATUS\n")
	for _, x := range exitCodes() {
		manItem(&b, x.term, x.text)
	}
	b.WriteString(".SH ENVIRONMENT\n")
	manItem(&b, "MBACKUP_CONFIG", "the configuration file when --config is not given")
	manItem(&b, "MBACKUP_LOCK_DIR", "the directory of the lock files of a B2 or S3 store (default /run/mbackup, else $XDG_RUNTIME_DIR)")
	b.WriteString(".SH FILES\n")
	manItem(&b, "/etc/mbackup/mbackup.yaml", "the configuration file by default")
	return b.String()
}

// manItem is a tagged paragraph: term in bold (its value's name in
// italics), text below it.
func manItem(b *strings.Builder, term, text string) {
	b.WriteString(".TP\n")
	name, value, _ := strings.Cut(term, " ")
	if strings.HasPrefix(name, "-") && value != "" && !strings.HasPrefix(value, "-") {
		b.WriteString(`\fB` + roffEscape(name) + `\fR \fI` + roffEscape(value) + `\fR` + "\n")
	} else {
		b.WriteString(`\fB` + roffEscape(term) + `\fR` + "\n")
	}
	b.WriteString(roffText(text) + "\n")
}

// roffEscape escapes text for use inside a roff line: backslashes, and
// hyphens, which would otherwise be typeset as hyphens, not minus signs.
func roffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

// roffText is s as a paragraph of text lines: escaped, and no line begins
// with a control character ("." or "'").
func roffText(s string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(wrap(s, helpWidth, 0), "\n"), "\n") {
		l = roffEscape(l)
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			l = `\&` + l
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

// roffQuote is s as one quoted macro argument.
func roffQuote(s string) string {
	return `"` + strings.ReplaceAll(roffEscape(s), `"`, `""`) + `"`
}
