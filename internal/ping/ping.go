// Package ping sends dead-man pings in the healthchecks.io convention: for
// a task with a URL, URL/start when a run starts, URL when it succeeds and
// URL/fail when it fails. A monitor on the other side (healthchecks.io, a
// self-hosted Healthchecks, Uptime Kuma's push monitors, Cronitor) raises an
// alarm when the success ping does not come in time, which catches what no
// message from mbackup itself can: a daemon that is not running at all.
//
// Invariants:
//   - A ping never takes longer than [Config.Timeout], nor outlives the
//     caller's context: the whole ping is bounded, connection and the one
//     retry included. A ping that fails is returned as an error for the
//     caller to log and count; it never fails the run.
//   - At most two requests per ping: a transport error or a 5xx answer is
//     retried once, after a second, and only when the retry still fits in
//     the timeout. Any status other than 2xx is a failure.
//   - A ping URL is a credential (whoever holds it can ping): no error
//     holds it, nor its path, nor any of [Config.Secrets].
//   - The body is plain text: the secrets given and anything that looks
//     like a credential (redact.String) are removed first, then it is cut
//     to [MaxBody] bytes at a UTF-8 boundary, ending with "…". Redacting
//     before cutting leaves no piece of a secret at the cut.
//   - A task without a URL is not pinged: its methods return nil at once.
package ping

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"mbackup/internal/buildinfo"
	"mbackup/internal/redact"
)

// Defaults and limits.
const (
	// DefaultTimeout bounds a ping when Config.Timeout is zero.
	DefaultTimeout = 10 * time.Second
	// MaxBody is the most bytes of body sent: healthchecks.io keeps the
	// first 10,000 bytes of a ping's body and drops the rest.
	MaxBody = 10_000
	// RetryDelay is the wait before the one retry of a failed request.
	RetryDelay = time.Second
	// cutMark ends a body that was cut.
	cutMark = "…"
)

// Config says where to ping.
type Config struct {
	// URLs maps a task ("backup", "mirror", "prune", "verify", "drill") to
	// its ping URL: http(s), with a host, without a query or fragment.
	// Secrets.
	URLs map[string]string
	// Timeout bounds each ping, its retry included; DefaultTimeout when
	// zero.
	Timeout time.Duration
	// UserAgent is sent with each request; "mbackup/VERSION" when empty.
	UserAgent string
	// Secrets are strings that must never reach the monitor in a body.
	Secrets []string
}

// Pinger pings the configured URLs. A nil *Pinger pings nothing. It is
// safe for concurrent use.
type Pinger struct {
	urls    map[string]*url.URL
	timeout time.Duration
	agent   string
	secrets []string // the URLs, their paths and Config.Secrets
	client  *http.Client
}

// New checks c and returns a Pinger. Its errors name the task, never the
// URL.
func New(c Config) (*Pinger, error) {
	p := &Pinger{urls: map[string]*url.URL{}, timeout: c.Timeout, agent: c.UserAgent}
	if p.timeout < 0 {
		return nil, fmt.Errorf("ping: negative timeout %s", c.Timeout)
	}
	if p.timeout == 0 {
		p.timeout = DefaultTimeout
	}
	if p.agent == "" {
		p.agent = "mbackup/" + buildinfo.Current()
	}
	for task, raw := range c.URLs {
		if raw == "" {
			continue
		}
		u, err := Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("ping: %s url: %w", task, err)
		}
		p.urls[task] = u
		p.secrets = append(p.secrets, raw)
		if len(u.Path) > 1 {
			p.secrets = append(p.secrets, u.Path) // the credential part
		}
	}
	p.secrets = append(p.secrets, c.Secrets...)
	p.secrets = slices.DeleteFunc(p.secrets, func(s string) bool { return s == "" })
	// Its own transport without keep-alive: a ping every few hours gains
	// nothing from an idle connection, which would outlive the run.
	p.client = &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true,
	}}
	return p, nil
}

// Parse checks a ping URL: http or https, with a host, without a query or
// a fragment (the suffixes /start and /fail are added to its path). Its
// errors never quote the URL.
func Parse(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil: // the parse error quotes the URL: say only what is wrong
		return nil, errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("must be an http:// or https:// URL")
	case u.Host == "":
		return nil, errors.New("needs a host, like https://hc-ping.com/UUID")
	case u.RawQuery != "" || u.ForceQuery:
		return nil, errors.New("must not hold a query (?...): /start and /fail are added to its path")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, errors.New("must not hold a fragment (#...)")
	}
	return u, nil
}

// Has reports whether task has a URL.
func (p *Pinger) Has(task string) bool {
	return p != nil && p.urls[task] != nil
}

// Start pings task's URL/start: a run begins.
func (p *Pinger) Start(ctx context.Context, task string) error {
	return p.send(ctx, task, "start", "")
}

// Success pings task's URL with body: the run succeeded.
func (p *Pinger) Success(ctx context.Context, task, body string) error {
	return p.send(ctx, task, "", body)
}

// Fail pings task's URL/fail with body: the run failed.
func (p *Pinger) Fail(ctx context.Context, task, body string) error {
	return p.send(ctx, task, "fail", body)
}

// send posts body to task's URL with suffix added to its path, retrying
// once. Its errors read "ping: TASK[ SUFFIX]: CAUSE".
func (p *Pinger) send(ctx context.Context, task, suffix, body string) error {
	if !p.Has(task) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	target := *p.urls[task]
	if suffix != "" {
		target.Path = strings.TrimSuffix(target.Path, "/") + "/" + suffix
		target.RawPath = ""
	}
	data := bodyOf(body, p.secrets)
	err := p.post(ctx, target.String(), data)
	if err != nil && retryable(err) {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > 2*RetryDelay {
			select {
			case <-ctx.Done():
			case <-time.After(RetryDelay):
				err = p.post(ctx, target.String(), data)
			}
		}
	}
	if err != nil {
		what := task
		if suffix != "" {
			what += " " + suffix
		}
		return fmt.Errorf("ping: %s: %s", what, redact.String(err.Error(), redact.Mark, p.secrets...))
	}
	return nil
}

// statusError is an answer other than 2xx.
type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("the monitor answered %d", e.code) }

// retryable: a transport error or a 5xx answer; a 4xx (an unknown check,
// say) would answer the same again.
func retryable(err error) bool {
	var se *statusError
	return !errors.As(err, &se) || se.code >= 500
}

// post sends one request and reads a little of the answer.
func (p *Pinger) post(ctx context.Context, target string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return errors.New("cannot make the request")
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("User-Agent", p.agent)
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // it quotes the URL
			err = ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &statusError{resp.StatusCode}
	}
	return nil
}

// bodyOf is what a ping sends for text: text with every secret and
// whatever looks like a credential removed, then cut to MaxBody bytes at a
// UTF-8 boundary, ending with "…" when cut.
func bodyOf(text string, secrets []string) []byte {
	text = redact.String(text, redact.Mark, secrets...)
	if len(text) <= MaxBody {
		return []byte(text)
	}
	n := MaxBody - len(cutMark)
	for n > 0 && !utf8.RuneStart(text[n]) {
		n--
	}
	return []byte(text[:n] + cutMark)
}
