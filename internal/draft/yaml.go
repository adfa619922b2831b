package draft

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The one YAML writer of the package: every value goes through quote, every
// line through doc.line.

// quote returns s as a YAML double-quoted scalar that config.Load reads
// back as s. strconv.Quote escapes every control, non-printing and
// non-ASCII-space character with escapes YAML's double-quoted style reads
// the same way (\n, \t, \uXXXX...), and quotes and backslashes; inside
// double quotes nothing else is special to YAML. Every "$" is doubled so
// that config's ${NAME} expansion gives the text back unchanged. s must
// be valid UTF-8 (see [validText]): strconv.Quote writes an invalid byte
// as \xNN, which YAML reads as the character U+00NN.
func quote(s string) string {
	return strconv.Quote(strings.ReplaceAll(s, "$", "$$"))
}

// validText refuses values that YAML could not carry as they are. Its
// error names the setting, never the value.
func validText(name, value string) error {
	if !utf8.ValidString(value) {
		return fmt.Errorf("%s is not valid UTF-8", name)
	}
	return nil
}

// doc is a YAML document written line by line.
type doc struct{ strings.Builder }

// line writes one line of YAML, its comment (if any) aligned on column 37.
func (b *doc) line(text, comment string) {
	b.WriteString(text)
	if comment != "" {
		b.WriteString(strings.Repeat(" ", max(1, 36-utf8.RuneCountInString(text))))
		b.WriteString("# " + comment)
	}
	b.WriteString("\n")
}

// commentSafe makes s fit on one YAML comment line.
func commentSafe(s string) string {
	if strings.ContainsFunc(s, unicode.IsControl) || !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	return s
}

func todoIf(cond bool, s string) string {
	if cond {
		return s
	}
	return ""
}
