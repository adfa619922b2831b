package notify

import (
	"regexp"
	"strings"
)

// redacted replaces every secret removed from a message or an error.
const redacted = "[REDACTED]"

var (
	// urlPassword matches the password of a URL's userinfo
	// ("://user:pass@"). The password runs up to the last "@" before
	// white space, so an unescaped "@" inside it is covered too.
	urlPassword = regexp.MustCompile(`(://[^\s:/@]*):[^\s]*@`)
	// slackWebhook matches Slack incoming-webhook and workflow URLs, whose
	// path is the credential.
	slackWebhook = regexp.MustCompile(`(?i)(https?://)?hooks\.slack(-gov)?\.com/\S*`)
	// slackToken matches bot, user, app and refresh tokens (xoxb-, xoxp-,
	// xapp-, xoxe-...).
	slackToken = regexp.MustCompile(`\b(xox[a-z]|xapp)-[0-9A-Za-z.-]+`)
)

// redactPatterns removes whatever looks like a credential whatever its
// origin: URL passwords, Slack webhook URLs and Slack tokens.
func redactPatterns(s string) string {
	s = slackWebhook.ReplaceAllString(s, redacted)
	s = slackToken.ReplaceAllString(s, redacted)
	s = urlPassword.ReplaceAllString(s, "$1:"+redacted+"@")
	return s
}

// redactSecrets replaces every occurrence of each non-empty secret, longest
// first so that a secret containing another one is removed whole.
func redactSecrets(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}

// redactEvent returns a copy of e with secrets removed from every string the
// message shows. The slices are copied: the caller's Event is not modified.
func redactEvent(e Event, secrets []string) Event {
	r := func(s string) string { return redactSecrets(s, secrets) }
	e.Job, e.Result, e.Host = r(e.Job), r(e.Result), r(e.Host)
	e.SnapshotID, e.Summary = r(e.SnapshotID), r(e.Summary)
	arts := make([]Artifact, len(e.Artifacts))
	for i, a := range e.Artifacts {
		arts[i] = Artifact{Component: r(a.Component), Name: r(a.Name), Bytes: a.Bytes}
	}
	e.Artifacts = arts
	fails := make([]Failure, len(e.Failures))
	for i, f := range e.Failures {
		fails[i] = Failure{What: r(f.What), Reason: r(f.Reason)}
	}
	e.Failures = fails
	return e
}
