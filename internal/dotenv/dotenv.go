// Package dotenv parses the .env files of Mastodon (.env.production), as
// Mastodon's Ruby dotenv gem reads them.
//
// Invariant: no value ever appears in an error. Values are passwords and
// keys, so an error names the line number and what is wrong, and nothing
// else from the input: not the value, not the line, not even the key.
//
// The format, one assignment a line:
//
//	# a comment
//	KEY=value                  unquoted: trimmed; a # ends it (as in the gem,
//	                           even without a space before it)
//	export KEY=value           "export " is ignored
//	KEY: value                 the gem's YAML-like separator
//	KEY='literal $X \n'        single quotes: taken as written, no escapes,
//	                           no expansion; may span lines
//	KEY="a\nb \"c\" \\ ${X}"   double quotes: \n and \r become newline and
//	                           carriage return, \" a quote, \\ a backslash,
//	                           any other \c is c; may span lines
//	KEY="..." # comment        a comment may follow a closing quote
//
// $NAME and ${NAME} are expanded in unquoted and double-quoted values, as
// the gem does, from the keys assigned earlier in the file; a key not
// assigned earlier expands to "" (the gem would also look in the process
// environment, which Parse never reads). \$ is a literal $. A $ followed
// by "(" is kept as it is: the gem would run it as a command, Parse never
// runs anything.
//
// Blank lines and trailing whitespace are ignored, CRLF line endings are
// read as LF, a leading UTF-8 byte order mark is skipped, and a key
// assigned twice keeps its last value. "export KEY" without a value is
// accepted and changes nothing. Unlike the gem, which skips what it cannot
// match, a line that is not an assignment or a comment is an error, and so
// is a quote that is never closed.
package dotenv

import (
	"fmt"
	"io"
	"strings"
)

// Error is a parse error: a line number and a fixed description, never any
// text of the input.
type Error struct {
	Line int    // 1-based line the problem starts on
	Msg  string // what is wrong, such as "unterminated quote"
}

func (e *Error) Error() string { return fmt.Sprintf("dotenv: line %d: %s", e.Line, e.Msg) }

// Parse reads a .env file and returns its keys and values. Errors are
// *Error values (or the reader's error), and never contain a value.
func Parse(r io.Reader) (map[string]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("dotenv: read: %w", err)
	}
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	s = strings.TrimPrefix(s, "\ufeff")
	p := &parser{s: s, line: 1, vars: map[string]string{}}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.vars, nil
}

type parser struct {
	s    string
	pos  int
	line int
	vars map[string]string
}

func (p *parser) fail(line int, msg string) error { return &Error{Line: line, Msg: msg} }

func (p *parser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *parser) eof() bool { return p.pos >= len(p.s) }

// blanks skips spaces, tabs and the other non-newline white space.
func (p *parser) blanks() {
	for !p.eof() {
		switch p.s[p.pos] {
		case ' ', '\t', '\v', '\f', '\r':
			p.pos++
		default:
			return
		}
	}
}

// skipLine moves past the rest of the line (a comment) and its newline.
func (p *parser) skipLine() {
	for !p.eof() && p.s[p.pos] != '\n' {
		p.pos++
	}
	p.endLine()
}

// endLine consumes the newline at pos, if any.
func (p *parser) endLine() {
	if !p.eof() && p.s[p.pos] == '\n' {
		p.pos++
		p.line++
	}
}

func isKeyByte(c byte) bool {
	return c == '_' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' }

func (p *parser) parse() error {
	for {
		p.blanks()
		if p.eof() {
			return nil
		}
		switch p.peek() {
		case '\n':
			p.endLine()
			continue
		case '#':
			p.skipLine()
			continue
		}
		if err := p.assignment(); err != nil {
			return err
		}
	}
}

// assignment parses one KEY=value, from its first character to the end of
// its last line.
func (p *parser) assignment() error {
	start := p.line
	exported := false
	if strings.HasPrefix(p.s[p.pos:], "export") && p.pos+6 < len(p.s) && isBlank(p.s[p.pos+6]) {
		p.pos += 6
		p.blanks()
		exported = true
	}
	k := p.pos
	for !p.eof() && isKeyByte(p.s[p.pos]) {
		p.pos++
	}
	key := p.s[k:p.pos]
	if key == "" {
		return p.fail(start, "expected KEY=value")
	}
	sepAt := p.pos
	p.blanks()
	switch c := p.peek(); {
	case c == '=':
		p.pos++
	case c == ':' && sepAt == p.pos && p.pos+1 < len(p.s) && isBlank(p.s[p.pos+1]):
		p.pos++
	case exported && (c == 0 || c == '\n' || c == '#'):
		p.skipLine() // "export KEY": marks a variable for export, sets nothing
		return nil
	default:
		return p.fail(start, "expected KEY=value")
	}
	p.blanks()
	var val string
	switch p.peek() {
	case '\'':
		v, err := p.single()
		if err != nil {
			return err
		}
		val = v
	case '"':
		v, err := p.double()
		if err != nil {
			return err
		}
		val = v
	default:
		v := p.pos
		for !p.eof() && p.s[p.pos] != '\n' && p.s[p.pos] != '#' {
			p.pos++
		}
		val = p.expand(strings.TrimRight(p.s[v:p.pos], " \t\v\f\r"), false)
		p.skipLine()
		p.vars[key] = val
		return nil
	}
	p.blanks()
	switch p.peek() {
	case 0, '\n', '#':
		p.skipLine()
	default:
		return p.fail(p.line, "unexpected text after the closing quote")
	}
	p.vars[key] = val
	return nil
}

// single reads a single-quoted value, taken as written. As in the gem, \'
// does not close the quote and stays as it is.
func (p *parser) single() (string, error) {
	start := p.line
	p.pos++
	v := p.pos
	for !p.eof() {
		switch p.s[p.pos] {
		case '\'':
			val := p.s[v:p.pos]
			p.pos++
			return val, nil
		case '\\':
			if p.pos+1 < len(p.s) && p.s[p.pos+1] == '\'' {
				p.pos++
			}
		case '\n':
			p.line++
		}
		p.pos++
	}
	return "", p.fail(start, "unterminated quote")
}

// double reads a double-quoted value, unescaping and expanding it.
func (p *parser) double() (string, error) {
	start := p.line
	p.pos++
	v := p.pos
	for !p.eof() {
		switch p.s[p.pos] {
		case '"':
			raw := p.s[v:p.pos]
			p.pos++
			return p.expand(raw, true), nil
		case '\\':
			if p.pos+1 < len(p.s) {
				if p.s[p.pos+1] == '\n' {
					p.line++
				}
				p.pos++
			}
		case '\n':
			p.line++
		}
		p.pos++
	}
	return "", p.fail(start, "unterminated quote")
}

// expand unescapes raw (\n and \r only in double quotes) and replaces
// $NAME and ${NAME} by the values of earlier keys.
func (p *parser) expand(raw string, dq bool) string {
	if !strings.ContainsAny(raw, `\$`) {
		return raw
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '\\' && i+1 < len(raw):
			i++
			switch n := raw[i]; {
			case dq && n == 'n':
				b.WriteByte('\n')
			case dq && n == 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(n)
			}
		case c == '$':
			// As the gem's pattern: $, an optional {, a name, an optional }.
			j := i + 1
			if j < len(raw) && raw[j] == '(' {
				b.WriteByte(c)
				continue
			}
			if j < len(raw) && raw[j] == '{' {
				j++
			}
			n := j
			for n < len(raw) && (raw[n] == '_' || '0' <= raw[n] && raw[n] <= '9' ||
				'a' <= raw[n] && raw[n] <= 'z' || 'A' <= raw[n] && raw[n] <= 'Z') {
				n++
			}
			name := raw[j:n]
			if n < len(raw) && raw[n] == '}' {
				n++
			}
			if name == "" {
				b.WriteString(raw[i:n]) // "$", "${", "${}": kept as written
			} else {
				b.WriteString(p.vars[name])
			}
			i = n - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
