package metacmd

import (
	"bytes"
	"fmt"
)

// SandboxLine is the first line of mariadb-dump 10.11.8 and later: it
// turns on the mariadb client's sandbox mode. It is the one backslash
// command MySQL lets through.
const SandboxLine = `/*M!999999\- enable the sandbox mode */`

// clientCommands are the mysql and mariadb clients' long-form commands,
// recognised at the start of a line. "use" (change the default database)
// and "delimiter" (which mariadb-dump writes around triggers and routines)
// are allowed: they run no program and read or write no file.
var clientCommands = map[string]bool{
	"?": true, "clear": true, "connect": true, "edit": true, "ego": true, "exit": true,
	"go": true, "help": true, "nopager": true, "notee": true, "nowarning": true, "pager": true,
	"print": true, "prompt": true, "quit": true, "rehash": true, "source": true, "status": true,
	"system": true, "tee": true, "charset": true, "warnings": true, "resetconnection": true,
	"sandbox": true, "query_attributes": true, "ssl_session_data_print": true,
}

// refusedNames are names that, in a dump, change how the client splits
// it into strings and commands, with the refusal each gets: character
// sets in which the second byte of a character may be a backslash or a
// backtick (a client switched to one lexes such bytes otherwise than this
// scanner), and the sql_modes under which the client reads a backslash in
// a string, or a double quote, otherwise than by default.
var refusedNames = map[string]string{}

func init() {
	for _, cs := range []string{"sjis", "cp932", "big5", "gbk", "gb18030"} {
		refusedNames[cs] = "the character set %s, in which a character may hold a backslash or backtick byte"
	}
	for _, mode := range []string{"no_backslash_escapes", "ansi_quotes", "ansi", "db2", "maxdb", "mssql", "oracle", "postgresql"} {
		refusedNames[mode] = "the sql_mode %s, which changes where the client sees a string end"
	}
}

// mysql lexer states.
const (
	mNormal = iota
	mString
	mComment     // /* */, not nested
	mLineComment // # or "-- "
)

// MySQL scans SQL meant for the mariadb or mysql client. The zero value is
// ready to use.
//
// Two lexers run side by side: one in which quotes open strings inside
// /*! comments and one in which they do not (clients differ), and a
// command either of them sees is refused.
type MySQL struct {
	buf     []byte
	written int64 // bytes given to Write
	started bool  // the first line was looked at for SandboxLine
	line    int   // lines completed
	col     int
	err     error
	lex     [2]myLex
}

// Write scans p; after the first refusal it returns that error.
func (s *MySQL) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	s.buf = append(s.buf, p...)
	s.written += int64(len(p))
	s.scan(false)
	return len(p), s.err
}

// Close ends the input and returns the verdict.
func (s *MySQL) Close() error {
	if s.err == nil {
		s.scan(true)
	}
	for i := range s.lex {
		if s.err == nil {
			s.lex[i].endWords(s)
		}
	}
	return s.err
}

// Scanned is how many of the bytes written were decided on: the rest wait
// for what follows them (at most a line's first bytes, or 3), or Close.
func (s *MySQL) Scanned() int64 { return s.written - int64(len(s.buf)) }

// maxFirstLine is how much of the input is read before the first line is
// compared with SandboxLine.
const maxFirstLine = 128

// SandboxLen is the length of b's first line, newline included, when it is
// SandboxLine followed by nothing but blanks (mariadb-dump writes a space).
func SandboxLen(b []byte) int {
	end := bytes.IndexByte(b, '\n')
	if end < 0 || !bytes.HasPrefix(b, []byte(SandboxLine)) {
		return 0
	}
	if len(bytes.Trim(b[len(SandboxLine):end], " \t\r")) != 0 {
		return 0
	}
	return end + 1
}

// lookahead is how many bytes after the current one a decision needs.
const lookahead = 3

func (s *MySQL) scan(final bool) {
	if !s.started {
		if !final && len(s.buf) < maxFirstLine && !bytes.Contains(s.buf, []byte("\n")) {
			return
		}
		s.started = true
		s.lex[1].ssStrings = true
		if n := SandboxLen(s.buf); n > 0 {
			s.buf = s.buf[n:]
			s.line = 1
		}
	}
	limit := len(s.buf)
	if !final {
		limit -= lookahead
	}
	i := 0
	for ; s.err == nil && i < limit; i++ {
		if n := s.quiet(s.buf[i:limit]); n > 0 {
			i += n - 1
			s.col += n
			continue
		}
		c, next := s.buf[i], s.buf[i+1:min(len(s.buf), i+1+lookahead)]
		if c == 0 {
			s.refuse("a NUL byte")
			break
		}
		for j := range s.lex {
			s.lex[j].step(s, c, next)
		}
		if c == '\n' {
			s.line++
			s.col = 0
		} else {
			s.col++
		}
	}
	s.buf = append(s.buf[:0], s.buf[i:]...)
}

// quiet returns how many bytes at the start of b change no lexer's state
// (the inside of a string or comment), after feeding them to the lexers'
// token buffers: the fast path of scan.
func (s *MySQL) quiet(b []byte) int {
	a, z := &s.lex[0], &s.lex[1]
	n := 0
	if a.state == mString && z.state == mString && a.quote == z.quote && a.plain() && z.plain() {
		for q := a.quote; n < len(b); n++ { // the common case, kept tight
			if c := b[n]; c == q || c == '\\' || c == '\n' || c == 0 {
				break
			}
		}
	} else {
		for n < len(b) && a.quiet(b[n]) && z.quiet(b[n]) {
			n++
		}
	}
	for j := range s.lex {
		if l := &s.lex[j]; l.state == mString && len(l.tok) <= maxToken {
			l.tok = append(l.tok, b[:min(n, maxToken+1-len(l.tok))]...)
		}
	}
	return n
}

func (s *MySQL) refuse(what string) {
	if s.err == nil {
		s.err = &Error{Line: s.line + 1, What: what}
	}
}

// myLex is one reading of the input.
type myLex struct {
	ssStrings bool // quotes open strings inside /*! comments
	state     int
	quote     byte
	ss        bool   // inside /*! or /*M!
	skip      int    // bytes of a two-byte token already handled
	escaped   bool   // after a backslash in a string
	word      []byte // the first word of the line, while armed
	wordOn    bool
	wordSeen  bool // a word byte was seen
	tok       []byte
}

// plain is true when the lexer has no pending skip, word or escape.
func (l *myLex) plain() bool { return l.skip == 0 && !l.wordOn && !l.escaped }

// quiet reports whether c changes nothing but the token buffer.
func (l *myLex) quiet(c byte) bool {
	if !l.plain() || c == '\n' || c == 0 {
		return false
	}
	switch l.state {
	case mString:
		return c != l.quote && c != '\\'
	case mComment:
		return c != '*'
	case mLineComment:
		return true
	}
	return false
}

func (l *myLex) step(s *MySQL, c byte, next []byte) {
	if s.col == 0 && l.state == mNormal {
		l.wordOn, l.wordSeen, l.word = true, false, l.word[:0]
	}
	if l.wordOn {
		l.firstWord(s, c)
	}
	if l.skip > 0 {
		l.skip--
		return
	}
	switch l.state {
	case mNormal:
		l.normal(s, c, next)
	case mString:
		l.string(s, c)
	case mComment:
		if c == '*' && len(next) > 0 && next[0] == '/' {
			l.state, l.skip = mNormal, 1
		}
	case mLineComment:
		if c == '\n' {
			l.state = mNormal
		}
	}
}

// firstWord refuses a line whose first word is a client command.
func (l *myLex) firstWord(s *MySQL, c byte) {
	switch {
	case !l.wordSeen && (c == ' ' || c == '\t'):
	case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '?':
		l.wordSeen = true
		if len(l.word) > 32 {
			l.wordOn = false
			return
		}
		l.word = append(l.word, c|0x20*byte(boolInt(c >= 'A' && c <= 'Z')))
	default:
		l.endFirstWord(s, c)
	}
}

func (l *myLex) endFirstWord(s *MySQL, c byte) {
	l.wordOn = false
	if '0' <= c && c <= '9' {
		return // part of a longer name
	}
	if clientCommands[string(l.word)] {
		s.refuse("a mysql client command " + printable(string(l.word)) + " at the start of a line")
	}
}

func (l *myLex) endWords(s *MySQL) {
	if l.wordOn {
		l.endFirstWord(s, '\n')
	}
	l.endToken(s)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (l *myLex) normal(s *MySQL, c byte, next []byte) {
	if isWordByte(c) {
		if len(l.tok) <= maxToken {
			l.tok = append(l.tok, c)
		}
		return
	}
	l.endToken(s)
	at := func(k int, b byte) bool { return len(next) > k && next[k] == b }
	switch {
	case c == '\\':
		s.refuse("a mysql client command (a backslash outside any string or comment)")
	case c == '#':
		l.state = mLineComment
	case c == '-' && at(0, '-') && (len(next) < 2 || isSpace(next[1])):
		l.state = mLineComment
	case c == '/' && at(0, '*'):
		if at(1, '!') || at(1, 'M') && at(2, '!') {
			l.ss, l.skip = true, 1
		} else {
			l.state, l.skip = mComment, 1
		}
	case c == '*' && at(0, '/') && l.ss:
		l.ss, l.skip = false, 1
	case (c == '\'' || c == '"' || c == '`') && (!l.ss || l.ssStrings):
		l.state, l.quote, l.escaped = mString, c, false
	}
}

func (l *myLex) string(s *MySQL, c byte) {
	switch {
	case l.escaped:
		l.escaped = false
	case c == '\\' && l.quote != '`':
		l.escaped = true
	case c == l.quote:
		l.state = mNormal
		l.endToken(s)
		return
	}
	if len(l.tok) <= maxToken {
		l.tok = append(l.tok, c)
	}
}

// maxToken bounds the bytes of a word or quoted text kept for endToken.
const maxToken = 256

// endToken refuses a word or quoted text naming a wide character set or a
// sql_mode that changes how the client splits strings.
func (l *myLex) endToken(s *MySQL) {
	text := l.tok
	l.tok = l.tok[:0]
	if len(text) > maxName && bytes.IndexByte(text, ',') < 0 {
		return // the common case: a long string of data
	}
	for len(text) > 0 {
		elem := text
		if i := bytes.IndexByte(text, ','); i >= 0 {
			elem, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		elem = bytes.TrimPrefix(bytes.TrimSpace(elem), []byte("_"))
		if len(elem) < 3 || len(elem) > maxName {
			continue
		}
		var buf [maxName]byte
		for i, c := range elem {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[i] = c
		}
		if what, ok := refusedNames[string(buf[:len(elem)])]; ok {
			s.refuse(fmt.Sprintf(what, string(buf[:len(elem)])))
		}
	}
}

// maxName is the longest name in wideCharsets and quotingModes, rounded up.
const maxName = 24

func isWordByte(c byte) bool {
	return isAlnum(c) || c == '_'
}
