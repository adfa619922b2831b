// Package notify reports the outcome of a job run to Slack, through an
// incoming webhook or a bot token (chat.postMessage).
//
// Invariants:
//   - A notification never fails the job and never delays it beyond
//     [Config.Timeout]: the whole post, connection included, is bounded and
//     nothing is retried. Failures are returned to the caller, which logs
//     and counts them.
//   - No secret ever appears in a message or an error: the webhook URL, the
//     token and [Config.Secrets] are removed from every text sent, as is
//     anything that looks like a URL password or a Slack credential, and
//     errors never carry the request URL.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"mbackup/internal/metrics"
	"mbackup/internal/redact"
)

// Event is the outcome of one job run.
type Event struct {
	Job        string // "backup", "mirror", "prune", "verify"
	Result     string // metrics.Success, metrics.Partial or metrics.Failure
	Host       string
	SnapshotID string // "" when none was committed
	Started    time.Time
	Finished   time.Time
	Artifacts  []Artifact
	Failures   []Failure
	Summary    string // one extra line, e.g. "pruned 3 snapshots" (optional)
	// Warnings are lines an admin must read although the run succeeded,
	// such as an artifact the shrink guard flagged. Each is shown with ⚠️.
	Warnings []string
	// NewestKnown says the store was listed for the message: only then
	// does it tell of the newest good snapshot (NewestGood, zero when the
	// store holds none). A message that does not know leaves the line out
	// rather than cry "no good snapshot!".
	NewestKnown bool
	NewestGood  time.Time // time of the newest complete snapshot, zero if none
	NextRun     time.Time // zero if unknown
	// LastDrill says how the newest restore drill in the store went, such
	// as "last drill: ok 5h ago, RTO 14m (…)"; "" when none ran.
	LastDrill string
}

// Artifact is one stored file of a snapshot.
type Artifact struct {
	Component string // "postgres", "redis", "media"...
	Name      string
	Bytes     int64 // stored (compressed, encrypted) bytes
}

// Failure is one part of a job that failed.
type Failure struct {
	What   string // e.g. "redis/main"
	Reason string // anything, including tool output: it is redacted
}

// Config selects how to post. Set either WebhookURL, or Token and Channel.
type Config struct {
	WebhookURL string // incoming webhook URL; a secret
	Token      string // bot token (xoxb-...) for chat.postMessage; a secret
	Channel    string // channel ID or name, with Token
	// On is "always" (the default when empty) or "failure", which sends
	// only partial and failed runs.
	On string
	// Timeout bounds a whole post; 10s when zero.
	Timeout time.Duration
	// APIURL replaces the Slack Web API base URL (with Token), for tests.
	APIURL string
	// Secrets are extra strings (passwords, keys) that must never appear in
	// a message or an error.
	Secrets []string
}

// DefaultTimeout bounds a post when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Slack posts job outcomes to Slack. It is safe for concurrent use.
type Slack struct {
	webhook     string
	api         *slack.Client // nil with a webhook
	channel     string
	failureOnly bool
	timeout     time.Duration
	client      *http.Client
	secrets     []string
}

// NewSlack checks c and returns a notifier. Exactly one of c.WebhookURL or
// c.Token with c.Channel must be set. Its errors never contain the webhook
// URL or the token.
func NewSlack(c Config) (*Slack, error) {
	s := &Slack{webhook: c.WebhookURL, channel: c.Channel, timeout: c.Timeout}
	switch c.On {
	case "", "always":
	case "failure":
		s.failureOnly = true
	default:
		return nil, fmt.Errorf("notify: slack: on %q: want \"always\" or \"failure\"", c.On)
	}
	if s.timeout < 0 {
		return nil, fmt.Errorf("notify: slack: negative timeout %s", c.Timeout)
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	// Its own transport without keep-alive: a post every few hours gains
	// nothing from an idle connection, which would outlive the run.
	s.client = &http.Client{Timeout: s.timeout, Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true, TLSHandshakeTimeout: 10 * time.Second,
	}}

	useToken := c.Token != "" || c.Channel != ""
	switch {
	case c.WebhookURL == "" && !useToken:
		return nil, errors.New("notify: slack: set a webhook url, or a token and channel")
	case c.WebhookURL != "" && useToken:
		return nil, errors.New("notify: slack: set either a webhook url or a token and channel, not both")
	case c.WebhookURL != "":
		u, err := url.Parse(c.WebhookURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			// The parse error would quote the URL: say only what is wrong.
			return nil, errors.New("notify: slack: webhook url is not an http(s) url")
		}
		if c.APIURL != "" {
			return nil, errors.New("notify: slack: api url applies only to a token")
		}
		s.secrets = append(s.secrets, c.WebhookURL)
		if len(u.Path) > 1 {
			s.secrets = append(s.secrets, u.Path) // the credential part
		}
	case c.Token == "":
		return nil, errors.New("notify: slack: channel set without a token")
	case c.Channel == "":
		return nil, errors.New("notify: slack: token set without a channel")
	default:
		opts := []slack.Option{slack.OptionHTTPClient(s.client)}
		if c.APIURL != "" {
			api := c.APIURL
			if !strings.HasSuffix(api, "/") {
				api += "/" // the method name is appended as is
			}
			opts = append(opts, slack.OptionAPIURL(api))
		}
		s.api = slack.New(c.Token, opts...)
		s.secrets = append(s.secrets, c.Token)
	}
	s.secrets = append(s.secrets, c.Secrets...)
	s.secrets = slices.DeleteFunc(s.secrets, func(x string) bool { return x == "" })
	return s, nil
}

// Notify posts e, unless On is "failure" and e.Result is "success" without
// Warnings, in which case it returns nil without posting. It returns within the configured
// timeout, or sooner if ctx ends. Its errors read
// "notify: slack: post: CAUSE"; the caller logs them and goes on.
func (s *Slack) Notify(ctx context.Context, e Event) error {
	if s.failureOnly && e.Result == metrics.Success && len(e.Warnings) == 0 {
		return nil
	}
	text, blocks := Message(redactEvent(e, s.secrets))
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var err error
	if s.api != nil {
		_, _, err = s.api.PostMessageContext(ctx, s.channel,
			slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
	} else {
		err = slack.PostWebhookCustomHTTPContext(ctx, s.webhook, s.client, &slack.WebhookMessage{
			Text:   text,
			Blocks: &slack.Blocks{BlockSet: blocks},
		})
	}
	if err != nil {
		return s.postError(err)
	}
	return nil
}

// postError is what Notify returns: the cause without the request URL
// (a *url.Error quotes it, and a webhook URL is a credential), redacted.
type postError struct {
	msg   string
	cause error
}

func (e *postError) Error() string { return "notify: slack: post: " + e.msg }
func (e *postError) Unwrap() error { return e.cause }

func (s *Slack) postError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := redact.String(err.Error(), redacted, s.secrets...)
	return &postError{msg: msg, cause: err}
}
