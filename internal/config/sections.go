package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// validate checks the recipients; at least one is needed when the
// configuration backs up.
func (e *Encryption) validate(v *validator, needRecipients bool) {
	if needRecipients && len(e.Recipients) == 0 && e.RecipientsFile == "" {
		v.add("encryption.recipients", "at least one recipient is required (recipients or recipients_file)")
	}
	for i, r := range e.Recipients {
		if _, err := parseRecipient(r, e.PostQuantum); err != nil {
			v.add(fmt.Sprintf("encryption.recipients[%d]", i), "%v", err)
		}
	}
}

func (m *Media) validate(v *validator) {
	s := &m.Source
	checkEndpoint(v, "media.source.endpoint", s.Endpoint)
	required(v, "media.source.bucket", s.Bucket != "")
	required(v, "media.source.access_key_id", s.AccessKeyID != "")
	requiredSecret(v, "media.source.secret_access_key", s.SecretAccessKey, s.SecretAccessKeyFile)
	switch err := checkPrefix(m.Prefix); {
	case m.Prefix == "":
		v.add("media.prefix", "required, such as media/: the mirror needs its own place in the storage")
	case err != nil:
		v.add("media.prefix", "%v", err)
	case m.Prefix == "snapshots" || strings.HasPrefix(m.Prefix, "snapshots/"):
		v.add("media.prefix", "must not be under snapshots/, where the snapshots are")
	case m.Prefix == "shrink-accepted" || strings.HasPrefix(m.Prefix, "shrink-accepted/"):
		v.add("media.prefix", "must not be under shrink-accepted/, where accept-shrink records its acceptances")
	case m.Prefix == "drills" || strings.HasPrefix(m.Prefix, "drills/"):
		v.add("media.prefix", "must not be under drills/, where the drill records are")
	}
	l := m.MaxDelete
	if l.Count < 0 || l.Percent < 0 || l.Percent > 100 {
		v.add("media.max_delete", "must be a count like 1000 or a percentage like 5%%")
	}
	if m.StallTimeout < Duration(time.Second) {
		v.add("media.stall_timeout", "must be at least 1s")
	}
	m.validateSelection(v)
}

func (s *Slack) validate(v *validator) {
	// A set x_file counts as set: Load reported it if it gave nothing.
	hook := s.WebhookURL.IsSet() || s.WebhookURLFile != ""
	tok := s.Token.IsSet() || s.TokenFile != ""
	switch {
	case hook && tok:
		v.add("notify.slack", "set webhook_url or token, not both")
	case !hook && !tok:
		v.add("notify.slack", "set webhook_url, or token and channel")
	case s.WebhookURL.IsSet() && !strings.HasPrefix(s.WebhookURL.Reveal(), "https://") &&
		!loopbackHTTP(s.WebhookURL.Reveal()):
		path := "notify.slack.webhook_url"
		if s.WebhookURLFile != "" {
			path += "_file" // the line that names the file
		}
		v.add(path, "must be an https:// URL")
	case hook && s.Channel != "":
		v.add("notify.slack.channel", "only with token: a webhook posts to its own channel")
	case tok && s.Channel == "":
		v.add("notify.slack.channel", "required with token")
	}
	if s.On != NotifyAlways && s.On != NotifyFailure {
		v.add("notify.slack.on", "must be always or failure")
	}
}

// validateCron checks the shape of a five-field cron expression; the
// scheduler parses it.
func validateCron(v *validator, path, expr string) {
	if _, err := cronParser.Parse(expr); err != nil {
		v.add(path, "not a schedule (%v): give 5 fields (minute hour day month weekday, UTC), like \"0 */12 * * *\", or @daily, @every 6h", err)
	}
}

// cronParser reads schedules as internal/scheduler does.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// loopbackHTTP reports whether raw is an http:// URL to this host.
func loopbackHTTP(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "http" && isLoopback(u.Hostname())
}
