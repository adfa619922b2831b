package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// texts returns every text of blocks, checking each against Slack's
// limits.
func texts(t *testing.T, blocks []slack.Block) []string {
	t.Helper()
	var out []string
	for _, b := range blocks {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			if n := utf8.RuneCountInString(b.Text.Text); n > maxHeader {
				t.Errorf("header has %d characters", n)
			}
			out = append(out, b.Text.Text)
		case *slack.SectionBlock:
			if n := utf8.RuneCountInString(b.Text.Text); n > maxSection {
				t.Errorf("section has %d characters", n)
			}
			out = append(out, b.Text.Text)
		case *slack.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				if tb, ok := e.(*slack.TextBlockObject); ok {
					if n := utf8.RuneCountInString(tb.Text); n > maxContext {
						t.Errorf("context element has %d characters", n)
					}
					out = append(out, tb.Text)
				}
			}
		default:
			t.Errorf("unexpected block %T", b)
		}
	}
	if _, err := json.Marshal(slack.Blocks{BlockSet: blocks}); err != nil {
		t.Errorf("blocks do not marshal: %v", err)
	}
	for i, s := range out {
		if s == "" {
			t.Errorf("text %d is empty: Slack refuses the message", i)
		}
	}
	return out
}

func TestMessageHeader(t *testing.T) {
	for _, tc := range []struct{ job, result, want string }{
		{"backup", "success", "✅ backup of h: success"},
		{"mirror", "partial", "⚠️ mirror of h: partial"},
		{"verify", "failure", "❌ verify of h: failure"},
		{"", "failure", "❌ backup of h: failure"},
	} {
		text, blocks := Message(Event{Job: tc.job, Result: tc.result, Host: "h"})
		if got := texts(t, blocks)[0]; got != tc.want {
			t.Errorf("header = %q, want %q", got, tc.want)
		}
		if text != tc.want && !strings.HasPrefix(text, tc.want+"\n") {
			t.Errorf("fallback %q does not start with %q", text, tc.want)
		}
	}
}

func TestMessageLongLists(t *testing.T) {
	e := Event{Job: "backup", Result: "failure", Host: "h"}
	for i := range 25 {
		e.Artifacts = append(e.Artifacts, Artifact{Component: "media", Name: fmt.Sprintf("part-%02d", i), Bytes: 1 << 20})
	}
	for i := range 30 {
		e.Failures = append(e.Failures, Failure{What: fmt.Sprintf("db/%d", i), Reason: strings.Repeat("x", 10000)})
	}
	text, blocks := Message(e)
	all := strings.Join(texts(t, blocks), "\n")
	if !strings.Contains(all, "media/part-19") || strings.Contains(all, "media/part-20") {
		t.Errorf("want exactly the first 20 artifacts:\n%s", all)
	}
	if !strings.Contains(all, "```\nand 5 more") {
		t.Errorf("no \"and 5 more\" after the artifacts:\n%s", all)
	}
	if !strings.Contains(all, "*Failures (30)*") || !strings.Contains(all, "more") {
		t.Errorf("failures not counted or not cut:\n%s", all)
	}
	if !strings.Contains(all, strings.Repeat("x", maxReason-1)+"…") || strings.Contains(all, strings.Repeat("x", maxReason+1)) {
		t.Errorf("a long reason is not cut to %d characters with …", maxReason)
	}
	if n := utf8.RuneCountInString(text); n > maxText {
		t.Errorf("fallback has %d characters", n)
	}
	if !strings.Contains(text, "and 25 more failures") {
		t.Errorf("fallback does not summarise the failures:\n%s", text)
	}
}

func TestMessageHugeSummary(t *testing.T) {
	e := Event{Job: "prune", Result: "success", Host: strings.Repeat("h", 500), Summary: strings.Repeat("a&b ", 2000)}
	text, blocks := Message(e)
	all := texts(t, blocks) // checks the limits
	summary := all[2]
	if !strings.HasSuffix(summary, "…") || strings.Contains(summary[len(summary)-10:], "&amp…") {
		t.Errorf("summary not cut cleanly: ...%q", summary[len(summary)-20:])
	}
	if !strings.HasSuffix(all[0], "…") {
		t.Errorf("long header not cut: %q", all[0])
	}
	if n := utf8.RuneCountInString(text); n > maxText {
		t.Errorf("fallback has %d characters", n)
	}
}

func TestMessageFooter(t *testing.T) {
	fin := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		good, next time.Time
		want       string
	}{
		{"none", time.Time{}, time.Time{}, "no good snapshot!"},
		{"unknown", time.Time{}, fin.Add(time.Hour), "next run: 2026-11-23 04:00 UTC"},
		{"12h", fin.Add(-12 * time.Hour), time.Time{}, "newest good snapshot: 12h ago (2026-11-22 15:00 UTC)"},
		{"3d", fin.Add(-80 * time.Hour), time.Time{}, "newest good snapshot: 3d ago"},
		{"now", fin, time.Time{}, "newest good snapshot: just now"},
		{"next", fin.Add(-5 * time.Minute), time.Date(2026, 11, 23, 23, 30, 0, 0, time.FixedZone("X", -3*3600)),
			"newest good snapshot: 5m ago (2026-11-23 02:55 UTC)  ·  next run: 2026-11-24 02:30 UTC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			known := tc.name != "unknown" // the store was not listed: the line is left out
			text, blocks := Message(Event{Result: "success", Finished: fin, NewestKnown: known, NewestGood: tc.good, NextRun: tc.next})
			all := texts(t, blocks)
			if !known && (strings.Contains(text, "good snapshot") || strings.Contains(strings.Join(all, "\n"), "good snapshot")) {
				t.Errorf("a message that does not know tells of the newest good snapshot:\n%s", text)
			}
			if got := all[len(all)-1]; !strings.HasPrefix(got, tc.want) {
				t.Errorf("context = %q, want %q", got, tc.want)
			}
			if !strings.Contains(text, tc.want) {
				t.Errorf("fallback lacks %q:\n%s", tc.want, text)
			}
		})
	}
}

func TestMessageEscapesAndRedacts(t *testing.T) {
	e := Event{Result: "failure", Host: "h", SnapshotID: "a`b", Failures: []Failure{{
		What:   "pg<x>",
		Reason: "<!channel> <https://evil.example|click> & dial postgres://u:pw@db/x with xoxp-1-2-3 to https://hooks.slack.com/services/T/B/C",
	}}}
	text, blocks := Message(e)
	all := strings.Join(texts(t, blocks), "\n") + "\n" + text
	if strings.Contains(strings.Join(texts(t, blocks), "\n"), "a`b") {
		t.Errorf("a backtick breaks a code span: %v", texts(t, blocks))
	}
	for _, bad := range []string{"<!channel>", "<https://", "pw@", "xoxp-1", "hooks.slack.com"} {
		if strings.Contains(all, bad) {
			t.Errorf("message contains %q:\n%s", bad, all)
		}
	}
	for _, want := range []string{"&lt;!channel&gt;", "&amp;", "postgres://u:[REDACTED]@db/x", "`a'b`", "`pg&lt;x&gt;`"} {
		if !strings.Contains(all, want) {
			t.Errorf("message lacks %q:\n%s", want, all)
		}
	}
}
