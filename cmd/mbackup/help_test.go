package main

import (
	"context"
	"flag"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestTopHelp: --help, -h and help print the same help on standard
// output and exit 0; it names every command, and lists each global flag
// once.
func TestTopHelp(t *testing.T) {
	_, want, _ := mbackup(t, "help")
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}, {"-v", "--help"}} {
		code, out, errOut := mbackup(t, args...)
		if code != exitOK || errOut != "" {
			t.Errorf("%q: exit %d, stderr %q; want 0 and nothing", args, code, errOut)
		}
		if out != want {
			t.Errorf("%q prints another help than mbackup help:\n%s", args, out)
		}
	}
	for _, c := range commands() {
		if !strings.Contains(want, "\n  "+c.name+" ") {
			t.Errorf("the help does not list command %s", c.name)
		}
	}
	for _, flag := range []string{"  --config FILE", "  -v ", "  -h, --help", "  --version"} {
		if n := strings.Count(want, "\n"+flag); n != 1 {
			t.Errorf("the help lists %q %d times, want once", flag, n)
		}
	}
	// A global flag added to flagSet is documented here, once.
	fs, _ := (&env{}).topFlags()
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(want, "\n  "+flagName(f)+" ") && !strings.Contains(want, "\n  "+flagName(f)+"\n") {
			t.Errorf("the help's global flags lack %s", flagName(f))
		}
	})
	checkWidth(t, "mbackup --help", want)
}

// TestCommandHelp walks every command: -h and --help, before or after a
// positional argument, print its help on standard output and exit 0; the
// help is the one "mbackup help COMMAND" prints, lists every flag of the
// command and no global flag.
// goTypeName matches a flag's term whose placeholder is the Go type the
// flag package falls back to ("--jobs int") rather than a word for the admin.
var goTypeName = regexp.MustCompile(` (int|uint|int64|uint64|string|float|float64|duration|value)$`)

func TestCommandHelp(t *testing.T) {
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			code, want, errOut := mbackup(t, "help", c.name)
			if code != exitOK || errOut != "" {
				t.Fatalf("help %s: exit %d, stderr %q", c.name, code, errOut)
			}
			for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {"-v", c.name, "-help"}, {c.name, "-v", "--help"}} {
				code, out, errOut := mbackup(t, args...)
				if code != exitOK || errOut != "" || out != want {
					t.Errorf("%q: exit %d, stderr %q, stdout:\n%s\nwant exit 0 and:\n%s", args, code, errOut, out, want)
				}
			}
			if c.args == "ID" || c.args == "[ID]" {
				if code, out, _ := mbackup(t, c.name, "20260101T000000Z-0001", "--help"); code != exitOK || out != want {
					t.Errorf("%s ID --help: exit %d:\n%s", c.name, code, out)
				}
			}
			if !strings.HasPrefix(want, "mbackup "+c.name+": ") || !strings.Contains(want, "\nusage: mbackup "+c.name) {
				t.Errorf("help of %s lacks its summary or usage line:\n%s", c.name, want)
			}
			for _, f := range ownFlags(commandFlags(context.Background(), c)) {
				if !strings.Contains(want, "\n  "+flagTerm(f)+"\n") {
					t.Errorf("help of %s does not list %s", c.name, flagTerm(f))
				}
				if term := flagTerm(f); goTypeName.MatchString(term) {
					t.Errorf("help of %s names a Go type, not what to give: %s (put the placeholder in backquotes in the usage)", c.name, term)
				}
			}
			for _, global := range []string{"\n  --config", "\n  -v\n", "\n  -config"} {
				if strings.Contains(want, global) {
					t.Errorf("help of %s lists the global flag %q", c.name, strings.TrimSpace(global))
				}
			}
			if !strings.Contains(want, "\nglobal flags: see mbackup --help") {
				t.Errorf("help of %s does not point to the global flags", c.name)
			}
			checkWidth(t, "help "+c.name, want)
		})
	}
}

// TestBadFlag walks every command: an unknown flag exits 2 with the
// command's usage on standard error and nothing on standard output.
func TestBadFlag(t *testing.T) {
	for _, c := range commands() {
		code, out, errOut := mbackup(t, c.name, "--bogus")
		if code != exitUsage || out != "" {
			t.Errorf("%s --bogus: exit %d, stdout %q; want 2 and nothing", c.name, code, out)
		}
		for _, want := range []string{"flag provided but not defined: -bogus", "\nusage: mbackup " + c.name, "global flags: see mbackup --help"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s --bogus: stderr lacks %q:\n%s", c.name, want, errOut)
			}
		}
	}
	code, out, errOut := mbackup(t, "--bogus")
	if code != exitUsage || out != "" || !strings.Contains(errOut, "usage: mbackup [--config FILE]") {
		t.Errorf("--bogus: exit %d, stdout %q, stderr %q; want 2 and the usage on stderr", code, out, errOut)
	}
}

// TestConfigFlag: after the command name, --config is taken only by the
// commands that read a configuration, and refused with the reason by the
// others; before it, every command takes it (an alias may carry it).
func TestConfigFlag(t *testing.T) {
	for _, c := range commands() {
		code, _, errOut := mbackup(t, c.name, "--config", "/nonexistent.yaml", "--help")
		switch {
		case c.config && code != exitOK:
			t.Errorf("%s --config FILE --help: exit %d, want 0: %s", c.name, code, errOut)
		case !c.config && (code != exitUsage || !strings.Contains(errOut, c.name+" reads no configuration")):
			t.Errorf("%s --config FILE: exit %d, stderr %q; want 2 and why", c.name, code, errOut)
		}
		if code, _, errOut := mbackup(t, "--config", "/nonexistent.yaml", c.name, "--help"); code != exitOK {
			t.Errorf("--config FILE %s --help: exit %d, want 0: %s", c.name, code, errOut)
		}
	}
}

// TestVersionFlag: --version is the version command, -v included.
func TestVersionFlag(t *testing.T) {
	for _, v := range [][]string{nil, {"-v"}} {
		_, want, _ := mbackup(t, append(v, "version")...)
		code, out, errOut := mbackup(t, append(v, "--version")...)
		if code != exitOK || out != want || errOut != "" {
			t.Errorf("%q --version: exit %d, stdout %q, stderr %q; want 0 and %q", v, code, out, errOut, want)
		}
	}
	if code, _, errOut := mbackup(t, "--version", "extra"); code != exitUsage || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Errorf("--version extra: exit %d, stderr %q", code, errOut)
	}
}

// TestHelpUsage: help's own mistakes are usage errors.
func TestHelpUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"help", "backup", "list"}, "one command at most"},
		{[]string{"help", "--man", "backup"}, "give no command"},
		{[]string{"help", "bakcup"}, `(did you mean "backup"?)`},
	} {
		code, out, errOut := mbackup(t, tc.args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, tc.err) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.err)
		}
	}
}

// checkWidth fails for a line wider than 80 columns that has a space
// where it could have been broken.
func checkWidth(t *testing.T, what, text string) {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if utf8.RuneCountInString(line) > 80 && strings.Contains(strings.TrimSpace(line), " ") {
			t.Errorf("%s: line wider than 80 columns: %q", what, line)
		}
	}
}
