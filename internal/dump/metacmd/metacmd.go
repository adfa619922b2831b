// Package metacmd finds client meta-commands in SQL dumps before they are
// fed to psql or to the mariadb/mysql client: a backslash command such as
// \! (run a shell command) or a long-form mysql client command such as
// "system" or "source". A dump that holds one is refused, naming the line.
//
// Each scanner is an io.Writer fed the SQL as it streams (no staging, any
// chunking: the result does not depend on how the input is split), and
// Close reports the verdict. They lex just enough of the language to tell
// code from string literals, quoted identifiers and comments, as the client
// itself does:
//   - PSQL: '...' strings (E”, U&”, B”, X” alike), "..." identifiers,
//     $tag$...$tag$ dollar quotes, -- comments and nested /* */ comments.
//     Any backslash outside them is a meta-command, except pg_dumpall's own
//     "\restrict KEY" line before the first statement and the matching
//     "\unrestrict KEY" line after the last one (see PSQL.Key). The word
//     STDIN is refused too: after COPY ... FROM STDIN psql reads lines as
//     data, not SQL, up to a "\." line, so what follows would be lexed
//     otherwise than psql does (globals never hold a COPY).
//   - MySQL: '...' and "..." strings, `...` identifiers, # and "-- "
//     comments, /* */ comments (but not the /*! and /*M! comments, whose
//     text the client runs, backslash commands included). Any backslash
//     outside strings is a command, except mariadb-dump's first line
//     "/*M!999999\- enable the sandbox mode */". A line that starts (outside
//     a string or comment) with the name of a client command other than
//     "use" and "delimiter" is refused too; see MySQL.
//
// psql splits a string at a backslash according to standard_conforming_strings,
// which a dump may change: a quote preceded by an odd number of
// backslashes inside a string ends it in one mode and not in the other, so
// PSQL refuses it as ambiguous; every other quote ends a string, or not, in
// both modes alike. The mysql client reads a backslash in a string as an
// escape unless the server reports NO_BACKSLASH_ESCAPES (ANSI_QUOTES for
// "..."); mariadb-dump escapes quotes that way, so MySQL lexes in that
// default mode and refuses a dump naming a sql_mode that changes it (or a
// character set whose characters may hold a backslash or backtick byte).
// A mode set through a computed value is not seen: the client options
// (--sandbox, --binary-mode) are the barrier that holds regardless.
// A NUL byte is refused: psql drops the rest of a line after one. Refusals
// err on the side of caution: what a client might run as a command is
// refused, even when a particular client version would not.
package metacmd

import (
	"fmt"
)

// Error is a refusal: what was found, and on which line (from 1).
type Error struct {
	Line int
	What string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.What) }

// maxCommandLine bounds how much of a line starting with a backslash is
// kept to compare it with an allowed line.
const maxCommandLine = 256

// quoteRun tracks the backslashes just before a character inside a string.
type quoteRun struct{ backslashes int }

// closes reports whether a quote after the run ends the string in both
// escaping modes; false means ambiguous.
func (q *quoteRun) ambiguous() bool { return q.backslashes%2 == 1 }

func (q *quoteRun) see(c byte) {
	if c == '\\' {
		q.backslashes++
	} else {
		q.backslashes = 0
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// printable shows a command found for an error message, at most 40 bytes.
func printable(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return fmt.Sprintf("%q", s)
}
