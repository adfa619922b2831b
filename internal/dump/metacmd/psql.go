package metacmd

import (
	"fmt"
	"strings"
)

// psql lexer states.
const (
	pNormal       = iota
	pDash         // after '-'
	pSlash        // after '/'
	pDollar       // after '$', reading a dollar-quote tag
	pIdent        // inside an identifier or key word
	pSQuote       // inside '...'
	pDQuote       // inside "..."
	pDollarQuote  // inside $tag$...$tag$
	pLineComment  // after --
	pBlockComment // inside /* */, nested
	pMeta         // a line starting with a backslash
)

// maxTag bounds a dollar-quote tag.
const maxTag = 4096

// PSQL scans SQL meant for psql. The zero value is ready to use.
type PSQL struct {
	state     int
	line      int // lines completed
	col       int // bytes on the current line so far
	err       error
	run       quoteRun
	tag       []byte
	delim     []byte // "$tag$" being matched inside a dollar quote
	matched   int
	depth     int
	prev      byte
	meta      []byte
	ident     []byte // the first bytes of the identifier being read
	sawSQL    bool   // a statement byte was seen
	key       string
	restrict  int // line of \restrict, 0 if none
	unrestrct int // line of \unrestrict, 0 if none
}

// Write scans p; after the first refusal it returns that error.
func (s *PSQL) Write(p []byte) (int, error) {
	for i, c := range p {
		if s.err != nil {
			return i, s.err
		}
		s.step(c)
		if c == '\n' {
			s.line++
			s.col = 0
		} else {
			s.col++
		}
	}
	return len(p), s.err
}

// Close ends the input and returns the verdict.
func (s *PSQL) Close() error {
	if s.err == nil && s.state == pMeta {
		s.endMeta()
	}
	if s.err == nil && s.state == pIdent {
		s.step('\n')
	}
	if s.err == nil && s.restrict != 0 && s.unrestrct == 0 {
		s.refuse(fmt.Sprintf("\\restrict on line %d has no matching \\unrestrict", s.restrict))
	}
	return s.err
}

// Key is the key of pg_dumpall's \restrict line, "" when there is none.
func (s *PSQL) Key() string { return s.key }

// PairLines are the lines (from 1) of pg_dumpall's \restrict and
// \unrestrict, 0 when absent.
func (s *PSQL) PairLines() (restrict, unrestrict int) { return s.restrict, s.unrestrct }

func (s *PSQL) refuse(what string) {
	if s.err == nil {
		s.err = &Error{Line: s.line + 1, What: what}
	}
}

func (s *PSQL) step(c byte) {
	if c == 0 {
		s.refuse("a NUL byte (psql ignores the rest of its line)")
		return
	}
	switch s.state {
	case pNormal:
		s.normal(c)
	case pDash:
		if c == '-' {
			s.state = pLineComment
			return
		}
		s.code()
		s.state = pNormal
		s.normal(c)
	case pSlash:
		if c == '*' {
			s.state, s.depth, s.prev = pBlockComment, 1, 0
			return
		}
		s.code()
		s.state = pNormal
		s.normal(c)
	case pDollar:
		s.dollar(c)
	case pIdent:
		if identCont(c) {
			if len(s.ident) <= len("stdin") {
				s.ident = append(s.ident, c)
			}
			return
		}
		if strings.EqualFold(string(s.ident), "stdin") {
			s.refuse("COPY ... FROM STDIN: psql would read the lines after it as data, unscanned, up to a \\. line")
			return
		}
		s.state = pNormal
		s.normal(c)
	case pSQuote:
		if c == '\'' {
			if s.run.ambiguous() {
				s.refuse("a quote after an odd number of backslashes in a string: where the string ends depends on standard_conforming_strings")
				return
			}
			s.state = pNormal
			return
		}
		s.run.see(c)
	case pDQuote:
		if c == '"' {
			s.state = pNormal
		}
	case pDollarQuote:
		s.dollarQuote(c)
	case pLineComment:
		if c == '\n' {
			s.state = pNormal
		}
	case pBlockComment:
		s.blockComment(c)
	case pMeta:
		if c == '\n' {
			s.endMeta()
			s.state = pNormal
			return
		}
		if len(s.meta) >= maxCommandLine {
			s.refuse("a psql meta-command " + printable(string(s.meta)))
			return
		}
		s.meta = append(s.meta, c)
	}
}

// code records a byte of a statement.
func (s *PSQL) code() {
	if s.unrestrct != 0 {
		s.refuse("SQL after pg_dumpall's \\unrestrict line")
	}
	s.sawSQL = true
}

func (s *PSQL) normal(c byte) {
	switch {
	case isSpace(c):
		return
	case c == '-':
		s.state = pDash
		return
	case c == '/':
		s.state = pSlash
		return
	case c == '\\':
		if s.col != 0 {
			s.refuse("a psql meta-command (a backslash outside any string, identifier or comment)")
			return
		}
		s.state, s.meta = pMeta, append(s.meta[:0], c)
		return
	}
	s.code()
	switch {
	case c == '\'':
		s.state, s.run = pSQuote, quoteRun{}
	case c == '"':
		s.state = pDQuote
	case c == '$':
		s.state, s.tag = pDollar, s.tag[:0]
	case identStart(c):
		s.state, s.ident = pIdent, append(s.ident[:0], c)
	}
}

// dollar reads a tag after '$': "$tag$" opens a dollar quote; "$1" is a
// parameter; anything else is an identifier's tail or an operator.
func (s *PSQL) dollar(c byte) {
	switch {
	case c == '$':
		s.state = pDollarQuote
		s.delim = append(append(append(s.delim[:0], '$'), s.tag...), '$')
		s.matched = 0
	case identStart(c) || len(s.tag) > 0 && '0' <= c && c <= '9':
		if len(s.tag) >= maxTag {
			s.refuse("a dollar-quote tag longer than 4096 bytes")
			return
		}
		s.tag = append(s.tag, c)
	default:
		s.state = pNormal
		s.normal(c)
	}
}

// dollarQuote looks for the closing "$tag$".
func (s *PSQL) dollarQuote(c byte) {
	if c == s.delim[s.matched] {
		s.matched++
		if s.matched == len(s.delim) {
			s.state = pNormal
		}
		return
	}
	s.matched = 0
	if c == '$' {
		s.matched = 1
	}
}

func (s *PSQL) blockComment(c byte) {
	switch {
	case s.prev == '*' && c == '/':
		s.depth--
		s.prev = 0
		if s.depth == 0 {
			s.state = pNormal
		}
	case s.prev == '/' && c == '*':
		s.depth++
		s.prev = 0
	default:
		s.prev = c
	}
}

// endMeta decides on a line that starts with a backslash: only
// pg_dumpall's \restrict before any statement and the \unrestrict with the
// same key after \restrict pass.
func (s *PSQL) endMeta() {
	line := string(s.meta)
	if k, ok := strings.CutPrefix(line, `\restrict `); ok && validKey(k) && s.restrict == 0 && !s.sawSQL {
		s.key, s.restrict = k, s.line+1
		return
	}
	if k, ok := strings.CutPrefix(line, `\unrestrict `); ok && s.restrict != 0 && k == s.key && s.unrestrct == 0 {
		s.unrestrct = s.line + 1
		return
	}
	s.refuse("a psql meta-command " + printable(line))
}

// validKey is a \restrict key as pg_dump makes them: letters and digits.
func validKey(k string) bool {
	if k == "" || len(k) > 128 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isAlnum(k[i]) {
			return false
		}
	}
	return true
}

// identStart and identCont are PostgreSQL's identifier bytes; a '$'
// inside an identifier does not start a dollar quote.
func identStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c >= 0x80
}

func identCont(c byte) bool { return identStart(c) || '0' <= c && c <= '9' || c == '$' }
