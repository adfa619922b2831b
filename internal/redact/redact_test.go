package redact

import (
	"strings"
	"testing"
)

func TestPatterns(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://user:p%40ss@host/x", "https://user:[REDACTED]@host/x"},
		{"redis://:secret@redis:6379", "redis://:[REDACTED]@redis:6379"},
		{"s3://key:se/cr@t@bucket now", "s3://key:[REDACTED]@bucket now"},
		{"https://host:443/path", "https://host:443/path"},
		{"see https://hooks.slack.com/services/T0/B0/XyZ.", "see [REDACTED]"},
		{"token xoxb-123-456-aBc and xapp-1-A-2", "token [REDACTED] and [REDACTED]"},
		{"plain text", "plain text"},
		{"redis://u:@host", "redis://u:[REDACTED]@host"},
	} {
		if got := Patterns(tc.in, MarkUpper); got != tc.want {
			t.Errorf("Patterns(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		secrets  []string
		want     string
	}{
		{"secret", "password hunter2 rejected", []string{"hunter2"}, "password [redacted] rejected"},
		{"url password", "could not connect to redis://:hunter3@host:6379", nil, "could not connect to redis://:[redacted]@host:6379"},
		// The password runs up to the last "@": "p@ss" is removed whole,
		// not cut at its own "@".
		{"at in password", "connect redis://u:p@ss@host:6379 failed", nil, "connect redis://u:[redacted]@host:6379 failed"},
		{"secret and url", "postgres://u:pw@db/x: pw", []string{"pw"}, "postgres://u:[redacted]@db/x: [redacted]"},
		{"adjacent", "pwpw", []string{"pw"}, "[redacted][redacted]"},
		{"overlapping occurrences", "aaaaa", []string{"aa"}, "[redacted]"},
		// Two secrets sharing bytes: one marker, not the tail of the
		// longer one.
		{"overlapping secrets", "x aaaabbbbcccc y", []string{"aaaabbbb", "bbbbcccc"}, "x [redacted] y"},
		{"contained secret", "abcdef", []string{"abc", "abcdef"}, "[redacted]"},
		// A secret that covers the user name's colon leaves no URL shape
		// behind; the password is still found in the input as given.
		{"secret cuts url", "https://bob:pass1234@host", []string{"b:pa"}, "https://bo[redacted]@host"},
		// A secret with a space hides the URL's shape in the input; it is
		// found once the secret is replaced.
		{"secret hides url", "https://u:pw x@host", []string{"w x"}, "https://u:[redacted]@host"},
		{"slack", "hook https://hooks.slack.com/services/T/B/C", nil, "hook [redacted]"},
		{"empty secret", "abc", []string{""}, "abc"},
	} {
		if got := String(tc.in, Mark, tc.secrets...); got != tc.want {
			t.Errorf("%s: String(%q, %q) = %q, want %q", tc.name, tc.in, tc.secrets, got, tc.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	in := "redis://u:pw@h and token xoxb-1-2"
	if got, want := Secrets(in, MarkUpper, "pw", ""), "redis://u:[REDACTED]@h and token xoxb-1-2"; got != want {
		t.Errorf("Secrets = %q, want %q", got, want)
	}
}

// FuzzRedact plants a secret and a URL password in random text and checks
// that no part of either survives.
//
// "No partial secret" means, for the secret and for the password each:
//
//  1. every byte of every occurrence of it in the input lies inside a
//     replaced range (checked on the ranges String replaces);
//  2. the output holds no run of 4 of its bytes (all of it when shorter)
//     outside every marker that the surrounding input does not hold too,
//     the surrounding input being the input with the planted secret and
//     password each replaced by the marker.
func FuzzRedact(f *testing.F) {
	f.Add("error: ", "hunter2", " while connecting to ", "postgres", "p@ss", " done")
	f.Add("", "pass", "", "u", "pass", "")
	f.Add("x://a:b@", "abab", "ab", "ab", "b:ab", "@z w")
	f.Add("see hooks.slack.com/", "w x", "", "bob", "w", "@")
	f.Fuzz(func(t *testing.T, prefix, secret, middle, user, password, suffix string) {
		if secret == "" {
			return
		}
		// A user name has none of these; a password in a URL no white
		// space (the redaction's definition of where it ends).
		user = strings.Map(func(r rune) rune {
			if strings.ContainsRune(" \t\n\f\r:/@", r) {
				return -1
			}
			return r
		}, user)
		password = strings.Map(func(r rune) rune {
			if strings.ContainsRune(" \t\n\f\r", r) {
				return -1
			}
			return r
		}, password)
		head := prefix + secret + middle + "https://" + user + ":"
		in := head + password + "@example.org/x" + suffix
		out := String(in, Mark, secret)

		spans := all(in, Mark, []string{secret})
		if got := apply(in, Mark, spans); got != out {
			t.Fatalf("String = %q, its ranges give %q", out, got)
		}
		for _, sp := range secretSpans(in, []string{secret}) {
			covered(t, spans, sp, in, "secret")
		}
		covered(t, spans, span{len(head), len(head) + len(password)}, in, "password")

		around := prefix + Mark + middle + "https://" + user + ":" + Mark + "@example.org/x" + suffix
		noPart(t, out, around, secret, "secret")
		noPart(t, out, around, password, "password")
	})
}

// covered fails unless every byte of want lies inside one of spans.
func covered(t *testing.T, spans []span, want span, in, what string) {
	t.Helper()
	for i := want.start; i < want.end; i++ {
		ok := false
		for _, sp := range spans {
			if sp.start <= i && i < sp.end {
				ok = true
				break
			}
		}
		if !ok {
			t.Fatalf("byte %d of the %s (%q) survives in %q (ranges %v)", i, what, in[want.start:want.end], in, spans)
		}
	}
}

// noPart fails if out holds, outside every marker, a run of min(4, len(k))
// bytes of k that around does not hold.
func noPart(t *testing.T, out, around, k, what string) {
	t.Helper()
	n := min(4, len(k))
	if n == 0 {
		return
	}
	var marks []span
	for _, sp := range secretSpans(out, []string{Mark}) {
		marks = append(marks, sp)
	}
	for i := 0; i+n <= len(k); i++ {
		part := k[i : i+n]
		if strings.Contains(around, part) {
			continue
		}
		for _, at := range secretSpans(out, []string{part}) {
			inMark := false
			for _, m := range marks {
				if at.start < m.end && m.start < at.end {
					inMark = true
					break
				}
			}
			if !inMark {
				t.Fatalf("%q of the %s %q is in %q", part, what, k, out)
			}
		}
	}
}
