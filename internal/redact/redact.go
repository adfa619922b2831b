// Package redact removes credentials from text meant for people: the
// errors, logs and notifications that quote a tool's output or a URL.
//
// Invariant: no byte of a credential survives. Every occurrence of each
// given secret (overlapping ones too), every URL password (from the ":"
// after the user name to the last "@" before white space, so that an
// unescaped "@" inside it is covered), every Slack webhook URL and every
// Slack token is found in the input as given, and the patterns are looked
// for once more in the text with the secrets replaced (a secret with a
// space can hide the shape of a URL); the union of all these byte ranges is
// replaced, each run of overlapping ranges by one marker. What is left of
// the input is therefore made only of bytes that belong to no credential:
// replacing secrets one after the other, as a plain strings.ReplaceAll loop
// does, can leave the tail of one secret that overlapped another, or the
// rest of a URL password that a replaced secret cut in two.
//
// The marker is the caller's: [Mark] for tool errors and logs, [MarkUpper]
// for Slack messages.
package redact

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
)

// Markers that replace what is removed.
const (
	Mark      = "[redacted]"
	MarkUpper = "[REDACTED]"
)

var (
	// urlPassword matches a URL's userinfo ("://user:pass@"); its group is
	// the password, which runs up to the last "@" before white space.
	urlPassword = regexp.MustCompile(`://[^\s:/@]*:([^\s]*)@`)
	// slackWebhook matches Slack incoming-webhook and workflow URLs, whose
	// path is the credential.
	slackWebhook = regexp.MustCompile(`(?i)(https?://)?hooks\.slack(-gov)?\.com/\S*`)
	// slackToken matches bot, user, app and refresh tokens (xoxb-, xoxp-,
	// xapp-, xoxe-...).
	slackToken = regexp.MustCompile(`\b(xox[a-z]|xapp)-[0-9A-Za-z.-]+`)
)

// String returns s with every secret, URL password, Slack webhook URL and
// Slack token replaced by mark. Empty secrets are ignored.
func String(s, mark string, secrets ...string) string {
	return apply(s, mark, all(s, mark, secrets))
}

// Secrets returns s with every occurrence of each non-empty secret replaced
// by mark, and nothing else.
func Secrets(s, mark string, secrets ...string) string {
	return apply(s, mark, merge(secretSpans(s, secrets)))
}

// Patterns returns s with whatever looks like a credential whatever its
// origin (URL passwords, Slack webhook URLs and tokens) replaced by mark.
func Patterns(s, mark string) string {
	return apply(s, mark, merge(patternSpans(s)))
}

// span is the byte range [start, end) of s to replace. An empty span (an
// empty URL password) still gets a marker.
type span struct{ start, end int }

// all returns the merged spans of String.
func all(s, mark string, secrets []string) []span {
	sec := merge(secretSpans(s, secrets))
	spans := append(slices.Clone(sec), patternSpans(s)...)
	if len(sec) > 0 {
		v := newView(s, mark, sec)
		for _, sp := range patternSpans(v.text) {
			spans = append(spans, span{v.orig(sp.start, false), v.orig(sp.end, true)})
		}
	}
	return merge(spans)
}

// secretSpans finds every occurrence of each non-empty secret, overlapping
// occurrences included.
func secretSpans(s string, secrets []string) []span {
	var spans []span
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		for i := 0; i <= len(s)-len(sec); {
			j := strings.Index(s[i:], sec)
			if j < 0 {
				break
			}
			spans = append(spans, span{i + j, i + j + len(sec)})
			i += j + 1
		}
	}
	return spans
}

// patternSpans finds URL passwords, Slack webhook URLs and Slack tokens.
func patternSpans(s string) []span {
	var spans []span
	for _, re := range []*regexp.Regexp{slackWebhook, slackToken} {
		for _, m := range re.FindAllStringIndex(s, -1) {
			spans = append(spans, span{m[0], m[1]})
		}
	}
	for _, m := range urlPassword.FindAllStringSubmatchIndex(s, -1) {
		spans = append(spans, span{m[2], m[3]})
	}
	return spans
}

// merge sorts spans and joins the overlapping ones. Spans that only touch
// stay apart (two adjacent secrets give two markers), except that an empty
// span at the edge of another is absorbed by it.
func merge(spans []span) []span {
	slices.SortFunc(spans, func(a, b span) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.end, b.end))
	})
	var out []span
	for _, sp := range spans {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if sp.start < last.end || sp.start == last.start || (sp.start == sp.end && sp.start == last.end) {
				last.end = max(last.end, sp.end)
				continue
			}
		}
		out = append(out, sp)
	}
	return out
}

// apply replaces each span of s, sorted and disjoint, by mark.
func apply(s, mark string, spans []span) string {
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp.start])
		b.WriteString(mark)
		last = sp.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// view is s with some spans replaced by a marker, mapping its offsets back
// to s.
type view struct {
	text string
	segs []segment // the markers, in order
}

// segment is a marker at [vs, ve) of the view that stands for [os, oe) of s.
type segment struct{ vs, ve, os, oe int }

func newView(s, mark string, spans []span) view {
	v := view{text: apply(s, mark, spans)}
	delta := 0 // view offset minus original offset
	for _, sp := range spans {
		vs := sp.start + delta
		v.segs = append(v.segs, segment{vs, vs + len(mark), sp.start, sp.end})
		delta += len(mark) - (sp.end - sp.start)
	}
	return v
}

// orig maps the view offset p to s. An offset inside a marker maps to the
// start of what the marker replaced, or to its end when end is true, so a
// range that touches a marker covers all of what it stands for.
func (v view) orig(p int, end bool) int {
	delta := 0 // original offset minus view offset, before p
	for _, g := range v.segs {
		if p <= g.vs {
			break
		}
		if p < g.ve {
			if end {
				return g.oe
			}
			return g.os
		}
		delta += (g.oe - g.os) - (g.ve - g.vs)
	}
	return p + delta
}
