package task

// Dead-man pings (notify.ping): URL/start as a run starts, URL when it
// succeeds, URL/fail when it fails or commits a partial snapshot (a
// dead-man switch must not stay green while a component is missing; the
// body says partial). Like Slack, a ping never fails a run: it is bounded
// by notify.ping.timeout, logged and counted (metrics.PingFailed). One-shot
// commands send only the final ping, and only when they post to Slack
// (Report's post).

import (
	"context"
	"strings"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/metrics"
	"mbackup/internal/notify"
	"mbackup/internal/ping"
)

// newPinger returns the pinger of cfg; nil when it configures no pings.
func newPinger(cfg *config.Config) (*ping.Pinger, error) {
	if cfg.Notify == nil || cfg.Notify.Ping == nil {
		return nil, nil
	}
	c := cfg.Notify.Ping
	urls := map[string]string{}
	for task, u := range c.URLs() {
		urls[task] = u.Reveal()
	}
	return ping.New(ping.Config{URLs: urls, Timeout: c.Timeout.Std(), Secrets: Secrets(cfg)})
}

// pingSecrets are the ping URLs of cfg.
func pingSecrets(cfg *config.Config) []config.Secret {
	if cfg.Notify == nil || cfg.Notify.Ping == nil {
		return nil
	}
	var ss []config.Secret
	for _, u := range cfg.Notify.Ping.URLs() {
		ss = append(ss, u)
	}
	return ss
}

// Started sends task's start ping, when it has a URL: call it as a run
// of task begins. It returns within notify.ping.timeout, or when ctx ends.
func (o *Observer) Started(ctx context.Context, task string) {
	p := o.currentPinger()
	if !p.Has(task) {
		return
	}
	o.pingFailed(task, p.Start(ctx, task))
}

// pingFinished sends r's final ping, when its task has a URL: success for
// a successful run, fail for a failed or partial one, with the run's
// summary as the body. A cancelled ctx does not stop it: the outcome of a
// run cut short is sent too, within notify.ping.timeout.
func (o *Observer) pingFinished(ctx context.Context, r Outcome, finished time.Time) {
	p := o.currentPinger()
	if !p.Has(r.Task) {
		return
	}
	o.mu.Lock()
	host := o.host
	o.mu.Unlock()
	body := pingBody(event(r, host, finished))
	ctx = context.WithoutCancel(ctx)
	if r.Result() == metrics.Success {
		o.pingFailed(r.Task, p.Success(ctx, r.Task, body))
	} else {
		o.pingFailed(r.Task, p.Fail(ctx, r.Task, body))
	}
}

// pingFailed logs and counts err, if any. Its text names the task and
// never the URL.
func (o *Observer) pingFailed(task string, err error) {
	if err != nil {
		o.log.Error("ping failed (the run itself is not affected)", "job", task, "err", err)
		o.metrics.PingFailed(task)
	}
}

func (o *Observer) currentPinger() *ping.Pinger {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pinger
}

// unescape undoes the mrkdwn escaping of Slack's plain-text fallback.
var unescape = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// pingBody is the plain text of e: what Slack shows as the message's text,
// without its mrkdwn escaping. The pinger redacts it.
func pingBody(e notify.Event) string {
	text, _ := notify.Message(e)
	return unescape.Replace(text)
}
