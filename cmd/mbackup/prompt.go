package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"
)

// errNoAnswer ends a guided command whose standard input closed.
var errNoAnswer = errors.New("no answer on standard input: to run without prompts, give --yes and the flags (see mbackup help restore)")

// prompter asks questions one line at a time: plain line prompts that work
// on a terminal, over pipes and with screen readers. Secrets are read
// without echo when stdin is a terminal.
type prompter struct {
	in  *bufio.Reader
	raw io.Reader
	out io.Writer
}

func newPrompter(in io.Reader, out io.Writer) *prompter {
	return &prompter{in: bufio.NewReader(in), raw: in, out: out}
}

// line asks a question and returns the answer, or def when it is empty.
func (p *prompter) line(question, def string) (string, error) {
	if def != "" {
		fmt.Fprintf(p.out, "%s [%s]: ", question, def)
	} else {
		fmt.Fprintf(p.out, "%s: ", question)
	}
	s, err := p.in.ReadString('\n')
	if err != nil && (s == "" || !errors.Is(err, io.EOF)) {
		fmt.Fprintln(p.out)
		if errors.Is(err, io.EOF) {
			return "", errNoAnswer
		}
		return "", err
	}
	if s = strings.TrimSpace(s); s == "" {
		return def, nil
	}
	return s, nil
}

// yesNo asks a yes/no question until it gets one.
func (p *prompter) yesNo(question string, def bool) (bool, error) {
	hint := "y/N"
	if def {
		hint = "Y/n"
	}
	for {
		s, err := p.line(question+" ("+hint+")", "")
		if err != nil {
			return false, err
		}
		switch strings.ToLower(s) {
		case "":
			return def, nil
		case "y", "yes":
			return true, nil
		case "n", "no":
			return false, nil
		}
		fmt.Fprintln(p.out, `  please answer "yes" or "no"`)
	}
}

// number asks for a port or a count.
func (p *prompter) number(question string, def int) (int, error) {
	for {
		s, err := p.line(question, strconv.Itoa(def))
		if err != nil {
			return 0, err
		}
		if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65536 {
			return n, nil
		}
		fmt.Fprintf(p.out, "  %q is not a number from 1 to 65535\n", s)
	}
}

// secret reads a password, without echo on a terminal.
func (p *prompter) secret(question string) (string, error) {
	f, ok := p.raw.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return p.line(question, "")
	}
	fmt.Fprintf(p.out, "%s (not shown): ", question)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(p.out)
	return string(b), err
}
