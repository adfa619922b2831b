package dotenv

import (
	"errors"
	"maps"
	"regexp"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]string
	}{
		{"empty", "", map[string]string{}},
		{"blank and comments", "\n  \n# c\n   # indented\n", map[string]string{}},
		{"plain", "A=1\nB=two", map[string]string{"A": "1", "B": "two"}},
		{"export", "export A=1\nexport\tB=2", map[string]string{"A": "1", "B": "2"}},
		{"export without value", "A=1\nexport A\nexport B # c", map[string]string{"A": "1"}},
		{"key named export", "export=x", map[string]string{"export": "x"}},
		{"spaces around =", "A = 1 \nB=  2\t", map[string]string{"A": "1", "B": "2"}},
		{"colon separator", "A: 1", map[string]string{"A": "1"}},
		{"inner spaces kept", "A=a b  c", map[string]string{"A": "a b  c"}},
		{"empty value", "A=\nB= # c\nC=''\nD=\"\"", map[string]string{"A": "", "B": "", "C": "", "D": ""}},
		{"comment after value", "A=abc # c", map[string]string{"A": "abc"}},
		{"hash ends an unquoted value", "A=abc#def", map[string]string{"A": "abc"}},
		{"hash in quotes", "A='a#b'\nB=\"c # d\"", map[string]string{"A": "a#b", "B": "c # d"}},
		{"dotted and lower keys", "a.b_c=1", map[string]string{"a.b_c": "1"}},
		{"single quoted literal", `A='x\ny $B ${B} \"'`, map[string]string{"A": `x\ny $B ${B} \"`}},
		{"single quoted escaped quote", `A='it\'s'`, map[string]string{"A": `it\'s`}},
		{"double quoted escapes", `A="l1\nl2\r \"q\" \\ \t"`, map[string]string{"A": "l1\nl2\r \"q\" \\ t"}},
		{"comment after quote", `A="v" # c` + "\nB='w'   ", map[string]string{"A": "v", "B": "w"}},
		{"leading blanks in quotes kept", `A="  v  "`, map[string]string{"A": "  v  "}},
		{"multi-line double", "A=\"one\ntwo\"\nB=3", map[string]string{"A": "one\ntwo", "B": "3"}},
		{"multi-line single", "A='one\ntwo'\nB=3", map[string]string{"A": "one\ntwo", "B": "3"}},
		{"pem", "KEY=\"-----BEGIN X-----\nabc\n-----END X-----\n\"", map[string]string{"KEY": "-----BEGIN X-----\nabc\n-----END X-----\n"}},
		{"crlf", "A=1\r\nB=\"x\r\ny\"\r\n# c\r\n", map[string]string{"A": "1", "B": "x\ny"}},
		{"bom", "\ufeffA=1", map[string]string{"A": "1"}},
		{"duplicate last wins", "A=1\nA=2", map[string]string{"A": "2"}},
		{"expand", "H=db\nP=5432\nU=postgres://$H:${P}/x\nQ=\"${H}-$H\"", map[string]string{"H": "db", "P": "5432", "U": "postgres://db:5432/x", "Q": "db-db"}},
		{"expand undefined", "A=[$NOPE]", map[string]string{"A": "[]"}},
		{"expand later key", "A=$B\nB=1", map[string]string{"A": "", "B": "1"}},
		{"escaped dollar", `A=1` + "\n" + `B=\$A` + "\n" + `C="\${A}"`, map[string]string{"A": "1", "B": "$A", "C": "${A}"}},
		{"lone dollars", "A=$ ${} $", map[string]string{"A": "$ ${} $"}},
		{"no command substitution", "A=$(id)\nB=\"$(id)\"", map[string]string{"A": "$(id)", "B": "$(id)"}},
		{"unquoted backslash", `A=a\b\n`, map[string]string{"A": "abn"}},
		{"quote inside unquoted", `A=ab"c'd`, map[string]string{"A": `ab"c'd`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tc.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"unterminated double", "A=1\n\nB=\"s3cret\nC=2\n", "dotenv: line 3: unterminated quote"},
		{"unterminated single", "A='s3cret", "dotenv: line 1: unterminated quote"},
		{"escaped closing quote", `A="s3cret\"`, "dotenv: line 1: unterminated quote"},
		{"no separator", "A=1\ns3cret\n", "dotenv: line 2: expected KEY=value"},
		{"bad key", "A=1\n-s3cret=1", "dotenv: line 2: expected KEY=value"},
		{"text after quote", "A=\"x\ns3cret\" s3cret", "dotenv: line 2: unexpected text after the closing quote"},
		{"colon without space", "A:s3cret", "dotenv: line 1: expected KEY=value"},
		{"line after multi-line value", "A=\"1\n2\n3\"\n!s3cret", "dotenv: line 4: expected KEY=value"},
		{"crlf line numbers", "A=1\r\nB=2\r\nC='s3cret\r\n", "dotenv: line 3: unterminated quote"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in))
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tc.want {
				t.Errorf("error %q, want %q", err, tc.want)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not an *Error", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows a value", err)
			}
		})
	}
}

// sentinel stands for a secret in FuzzParse: it must never show in an error.
const sentinel = "Zq8sentinelXw"

var errShape = regexp.MustCompile(`^dotenv: line [1-9][0-9]*: [a-zA-Z= ]+$`)

// FuzzParse checks that Parse never panics, that its errors are a line
// number and a fixed text, and that a value never shows in an error: the
// input is before + "=" + sentinel + after, so that wherever the fuzzer
// puts it the sentinel follows an "=" and cannot be a key.
func FuzzParse(f *testing.F) {
	for _, s := range [][2]string{
		{"A", ""}, {"export A", " # c"}, {"A=\"x\nB", "\""}, {"A='", "\nB=1"},
		{"#c\nA", "\r\nB=${A}"}, {"A=\"", ""}, {"A='", ""}, {"A=\"", "\" junk"},
		{"A", "$(B)${C"}, {"\ufeffA: ", "\\"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, before, after string) {
		in := before + "=" + sentinel + after
		m, err := Parse(strings.NewReader(in))
		if err != nil {
			if m != nil {
				t.Errorf("a map with an error")
			}
			if !errShape.MatchString(err.Error()) {
				t.Errorf("error %q is not a line number and a fixed text", err)
			}
			if strings.Contains(err.Error(), sentinel[:4]) {
				t.Errorf("error %q shows the value", err)
			}
			var pe *Error
			if errors.As(err, &pe) && (pe.Line < 1 || pe.Line > strings.Count(in, "\n")+1) {
				t.Errorf("line %d out of range", pe.Line)
			}
			return
		}
		for k := range m {
			if k == "" || strings.ContainsFunc(k, func(r rune) bool { return r > 0x7f || !isKeyByte(byte(r)) }) {
				t.Errorf("bad key %q", k)
			}
		}
	})
}
