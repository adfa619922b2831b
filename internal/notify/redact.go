package notify

import "mbackup/internal/redact"

// redacted replaces every secret removed from a message or an error.
const redacted = redact.MarkUpper

// redactPatterns removes whatever looks like a credential whatever its
// origin: URL passwords, Slack webhook URLs and Slack tokens.
func redactPatterns(s string) string { return redact.Patterns(s, redacted) }

// redactSecrets replaces every occurrence of each non-empty secret.
func redactSecrets(s string, secrets []string) string {
	return redact.Secrets(s, redacted, secrets...)
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
	warns := make([]string, len(e.Warnings))
	for i, w := range e.Warnings {
		warns[i] = r(w)
	}
	e.Warnings = warns
	return e
}
