package preflight

import (
	"context"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/notify"
	"mbackup/internal/snapshot"
)

// slack sets up the Slack notifier and, with post, posts a test message;
// nothing when Slack is not configured. The message tells of the newest
// good snapshot of entries, the store's listing, and leaves that line out
// when entries is nil (the store could not be listed).
func slack(ctx context.Context, cfg *config.Config, post bool, secrets []string, entries []snapshot.Entry) []Result {
	if cfg.Notify == nil || cfg.Notify.Slack == nil {
		return nil
	}
	r := &results{what: "slack"}
	sl := cfg.Notify.Slack
	s, err := notify.NewSlack(notify.Config{WebhookURL: sl.WebhookURL.Reveal(), Token: sl.Token.Reveal(), Channel: sl.Channel,
		Secrets: secrets})
	if err != nil {
		r.fail(err.Error(), "set notify.slack.webhook_url (or webhook_url_file) to the https://hooks.slack.com/services/... URL, or token and channel")
		return r.rs
	}
	if !post {
		r.ok("configured; mbackup check --notify posts a test message")
		return r.rs
	}
	now := time.Now()
	e := notify.Event{Job: "check", Result: "success", Host: cfg.Host, Started: now, Finished: now,
		Summary: "a test message from mbackup check"}
	if entries != nil {
		e.NewestKnown = true
		if g, ok := snapshot.NewestGood(entries, now); ok {
			e.NewestGood = g.Manifest.Started
		}
	}
	err = s.Notify(ctx, e)
	if err != nil {
		r.fail(err.Error(), "check that the webhook (or the token and channel) is still valid in Slack's app settings, and that this host reaches hooks.slack.com over HTTPS")
		return r.rs
	}
	r.ok("test message posted")
	return r.rs
}
