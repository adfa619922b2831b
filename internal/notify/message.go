package notify

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"mbackup/internal/human"
	"mbackup/internal/metrics"
)

// Slack Block Kit limits (https://api.slack.com/reference/block-kit/blocks).
const (
	maxHeader  = 150  // header block plain_text
	maxSection = 3000 // section block text
	maxContext = 2000 // one context element
	maxText    = 3000 // fallback text: Slack accepts more, a notification needs less
	maxLines   = 20   // artifact and failure lines before "and N more"
	maxReason  = 500  // one failure reason
)

// Message builds the Block Kit message for e and its plain-text fallback.
// It is pure: the age of the newest good snapshot is measured from
// e.Finished, and told only when e.NewestKnown. Everything from the event is escaped for mrkdwn, and anything
// that looks like a credential (a URL password, a Slack webhook URL or
// token) is redacted; secrets known only by value are removed by
// [Slack.Notify] before it calls Message.
func Message(e Event) (text string, blocks []slack.Block) {
	head := header(e)
	blocks = append(blocks, slack.NewHeaderBlock(
		slack.NewTextBlockObject(slack.PlainTextType, truncate(head, maxHeader), true, false)))
	blocks = append(blocks, section(infoLines(e)))
	if len(e.Artifacts) > 0 {
		blocks = append(blocks, section(artifactsText(e.Artifacts)))
	}
	if len(e.Failures) > 0 {
		blocks = append(blocks, section(failuresText(e.Failures)))
	}
	if len(e.Warnings) > 0 {
		blocks = append(blocks, section(warningsText(e.Warnings)))
	}
	if e.Summary != "" {
		blocks = append(blocks, section(clean(e.Summary)))
	}
	if f := footer(e); f != "" { // Slack refuses an empty text
		blocks = append(blocks, slack.NewContextBlock("",
			slack.NewTextBlockObject(slack.MarkdownType, truncate(f, maxContext), false, false)))
	}
	return fallback(e, head), blocks
}

func section(mrkdwn string) *slack.SectionBlock {
	return slack.NewSectionBlock(
		slack.NewTextBlockObject(slack.MarkdownType, truncate(mrkdwn, maxSection), false, false), nil, nil)
}

// header is "✅ backup of HOST: success". It is plain text, so it is
// redacted but not escaped.
func header(e Event) string {
	job := e.Job
	if job == "" {
		job = "backup"
	}
	host := e.Host
	if host == "" {
		host = "unknown host"
	}
	head := fmt.Sprintf("%s %s of %s: %s", icon(e.Result), job, host, e.Result)
	switch n := len(e.Warnings); n {
	case 0:
	case 1:
		head += ", ⚠️ 1 warning"
	default:
		head += fmt.Sprintf(", ⚠️ %d warnings", n)
	}
	return redactPatterns(head)
}

func icon(result string) string {
	switch result {
	case metrics.Success:
		return "✅"
	case metrics.Partial:
		return "⚠️"
	default:
		return "❌"
	}
}

func infoLines(e Event) string {
	var b strings.Builder
	if e.SnapshotID != "" {
		fmt.Fprintf(&b, "*Snapshot* %s", code(e.SnapshotID))
	} else {
		b.WriteString("*Snapshot* none committed")
	}
	if d, ok := duration(e); ok {
		fmt.Fprintf(&b, "\n*Duration* %s (started %s)", d, utc(e.Started))
	}
	if len(e.Artifacts) > 0 {
		fmt.Fprintf(&b, "\n*Stored* %s in %d artifacts", human.Bytes(total(e.Artifacts)), len(e.Artifacts))
	}
	return b.String()
}

// artifactsText is a code block of "component/name  size" lines, at most
// maxLines of them and within maxSection.
func artifactsText(arts []Artifact) string {
	names := make([]string, len(arts))
	width := 0
	for i, a := range arts {
		names[i] = truncate(plain(a.Component+"/"+a.Name), 60)
		width = max(width, utf8.RuneCountInString(names[i]))
	}
	lines := make([]string, len(arts))
	for i, a := range arts {
		pad := width - utf8.RuneCountInString(names[i])
		lines[i] = fmt.Sprintf("%s%s  %10s", names[i], strings.Repeat(" ", pad), human.Bytes(a.Bytes))
	}
	return limitLines("*Artifacts*\n```", lines, "```")
}

// failuresText lists each failure with its reason, at most maxLines of them
// and within maxSection.
func failuresText(fails []Failure) string {
	lines := make([]string, len(fails))
	for i, f := range fails {
		reason := truncate(strings.Join(strings.Fields(f.Reason), " "), maxReason)
		if reason == "" {
			reason = "no reason given"
		}
		lines[i] = fmt.Sprintf("• %s: %s", code(f.What), clean(reason))
	}
	return limitLines(fmt.Sprintf("*Failures (%d)*", len(fails)), lines, "")
}

// warningsText lists each warning after ⚠️, at most maxLines of them and
// within maxSection. A warning may hold `code` spans: they are kept.
func warningsText(warns []string) string {
	lines := make([]string, len(warns))
	for i, w := range warns {
		lines[i] = "⚠️ " + clean(truncate(strings.Join(strings.Fields(w), " "), maxReason))
	}
	return limitLines(fmt.Sprintf("*Warnings (%d)*", len(warns)), lines, "")
}

// limitLines joins head, as many lines as fit in maxLines and maxSection,
// tail (which closes a code block, if any), and an "and N more" line if some
// were left out.
func limitLines(head string, lines []string, tail string) string {
	const moreRoom = 40 // room kept for "and N more"
	var b strings.Builder
	b.WriteString(head)
	n := 0
	for _, l := range lines {
		if n == maxLines || b.Len()+1+len(l)+len(tail)+moreRoom > maxSection {
			break
		}
		b.WriteString("\n" + l)
		n++
	}
	if tail != "" {
		b.WriteString("\n" + tail)
	}
	if n < len(lines) {
		fmt.Fprintf(&b, "\nand %d more", len(lines)-n)
	}
	return b.String()
}

func footer(e Event) string {
	var parts []string
	if e.NewestKnown {
		parts = append(parts, newestGood(e))
	}
	if !e.NextRun.IsZero() {
		parts = append(parts, "next run: "+utc(e.NextRun))
	}
	if e.LastDrill != "" {
		parts = append(parts, clean(e.LastDrill))
	}
	return strings.Join(parts, "  ·  ")
}

func newestGood(e Event) string {
	if e.NewestGood.IsZero() {
		return "no good snapshot!"
	}
	if e.Finished.IsZero() {
		return "newest good snapshot: " + utc(e.NewestGood)
	}
	return fmt.Sprintf("newest good snapshot: %s (%s)", age(e.Finished.Sub(e.NewestGood)), utc(e.NewestGood))
}

// fallback is the plain-text version shown in notifications and by clients
// that do not render blocks.
func fallback(e Event, head string) string {
	var b strings.Builder
	b.WriteString(clean(head))
	if e.SnapshotID != "" {
		b.WriteString("\nsnapshot " + clean(e.SnapshotID))
	}
	if d, ok := duration(e); ok {
		b.WriteString(", took " + d)
	}
	if len(e.Artifacts) > 0 {
		fmt.Fprintf(&b, ", %s stored in %d artifacts", human.Bytes(total(e.Artifacts)), len(e.Artifacts))
	}
	for i, f := range e.Failures {
		if i == 5 {
			fmt.Fprintf(&b, "\nand %d more failures", len(e.Failures)-i)
			break
		}
		reason := truncate(strings.Join(strings.Fields(f.Reason), " "), 200)
		b.WriteString("\nfailed: " + clean(f.What) + ": " + clean(reason))
	}
	for i, w := range e.Warnings {
		if i == 5 {
			fmt.Fprintf(&b, "\nand %d more warnings", len(e.Warnings)-i)
			break
		}
		b.WriteString("\n⚠️ " + clean(truncate(strings.Join(strings.Fields(w), " "), maxReason)))
	}
	if e.Summary != "" {
		b.WriteString("\n" + clean(e.Summary))
	}
	if f := footer(e); f != "" {
		b.WriteString("\n" + f)
	}
	return truncate(b.String(), maxText)
}

func duration(e Event) (string, bool) {
	if e.Started.IsZero() || e.Finished.IsZero() || e.Finished.Before(e.Started) {
		return "", false
	}
	return e.Finished.Sub(e.Started).Round(time.Second).String(), true
}

func total(arts []Artifact) int64 {
	var n int64
	for _, a := range arts {
		n += a.Bytes
	}
	return n
}

func utc(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// age is a rough "12h ago".
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
	}
}

// clean redacts credentials and escapes s for mrkdwn, so that a reason
// cannot mention @channel, link elsewhere or break the formatting.
func clean(s string) string {
	return escape(redactPatterns(s))
}

// plain is clean for the inside of a code span or block, where a backtick
// would end it.
func plain(s string) string {
	return strings.ReplaceAll(clean(s), "`", "'")
}

func code(s string) string { return "`" + plain(s) + "`" }

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escape(s string) string { return escaper.Replace(s) }

// truncate shortens s to at most n runes, ending it with "…" if it was
// cut. It never cuts an escape such as "&amp;" in half.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n-1]
	if i := strings.LastIndexByte(string(r), '&'); i >= 0 && !strings.Contains(string(r)[i:], ";") {
		r = []rune(string(r)[:i])
	}
	return string(r) + "…"
}
