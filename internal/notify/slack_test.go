package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	password   = "hunter2-S3cret"
	fakeHook   = "https://hooks.slack.com/services/T000/B000/XXXX"
	fakeToken  = "xoxb-1111-2222-abcdefABCDEF"
	hookPath   = "/services/T000/B000/XXXX"
	testHost   = "mastodon.example"
	snapshotID = "20261123T030000Z-4f2a"
)

func testEvent() Event {
	fin := time.Date(2026, 11, 23, 3, 12, 30, 0, time.UTC)
	return Event{
		Job:        "backup",
		Result:     "partial",
		Host:       testHost,
		SnapshotID: snapshotID,
		Started:    fin.Add(-12*time.Minute - 30*time.Second),
		Finished:   fin,
		Artifacts: []Artifact{
			{Component: "postgres", Name: "mastodon", Bytes: 1536 << 20},
			{Component: "media", Name: "files", Bytes: 34 << 30},
		},
		Failures: []Failure{{
			What: "redis/main",
			Reason: "redis-cli: AUTH failed for redis://default:" + password + "@redis:6379/0; password " +
				password + " rejected; alert " + fakeHook + " token " + fakeToken,
		}},
		Summary:     "pruned 3 snapshots",
		NewestKnown: true,
		NewestGood:  fin.Add(-12 * time.Hour),
		NextRun:     time.Date(2026, 11, 24, 3, 0, 0, 0, time.FixedZone("CET", 3600)),
	}
}

// recorder is a Slack stand-in that keeps every request body.
type recorder struct {
	mu     sync.Mutex
	bodies []string
	forms  []url.Values
	count  atomic.Int32
}

func (rec *recorder) keep(r *http.Request) string {
	rec.count.Add(1)
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.bodies = append(rec.bodies, string(b))
	if f, err := url.ParseQuery(string(b)); err == nil && r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
		rec.forms = append(rec.forms, f)
	}
	return string(b)
}

func (rec *recorder) last(t *testing.T) string {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.bodies) != 1 {
		t.Fatalf("got %d requests, want 1", len(rec.bodies))
	}
	return rec.bodies[0]
}

// webhookServer answers every request with status and records it.
func webhookServer(t *testing.T, status int) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.keep(r)
		if r.URL.Path != hookPath || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusNotFound)
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

func newSlack(t *testing.T, c Config) *Slack {
	t.Helper()
	s, err := NewSlack(c)
	if err != nil {
		t.Fatalf("NewSlack: %v", err)
	}
	return s
}

type block struct {
	Type string `json:"type"`
	Text *struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"text"`
	Elements []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"elements"`
}

// blockTexts returns the text of each block, by type ("section" texts in
// order).
func blockTexts(t *testing.T, blocks []block) map[string][]string {
	t.Helper()
	m := map[string][]string{}
	for _, b := range blocks {
		switch {
		case b.Text != nil:
			m[b.Type] = append(m[b.Type], b.Text.Text)
		case b.Type == "context":
			for _, e := range b.Elements {
				m[b.Type] = append(m[b.Type], e.Text)
			}
		default:
			m[b.Type] = append(m[b.Type], "")
		}
	}
	return m
}

func assertMessage(t *testing.T, text string, blocks []block) {
	t.Helper()
	bt := blockTexts(t, blocks)
	if got, want := bt["header"], []string{"⚠️ backup of mastodon.example: partial"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("header = %q, want %q", got, want)
	}
	if blocks[0].Type != "header" {
		t.Errorf("first block is %q, want header", blocks[0].Type)
	}
	sections := strings.Join(bt["section"], "\n---\n")
	for _, want := range []string{
		"`" + snapshotID + "`",
		"12m30s",
		"35.5 GiB in 2 artifacts",
		"*Artifacts*",
		"postgres/mastodon     1.5 GiB",
		"media/files          34.0 GiB",
		"*Failures (1)*",
		"• `redis/main`: redis-cli: AUTH failed for redis://default:[REDACTED]@redis:6379/0; password [REDACTED] rejected",
		"pruned 3 snapshots",
	} {
		if !strings.Contains(sections, want) {
			t.Errorf("sections lack %q:\n%s", want, sections)
		}
	}
	ctx := strings.Join(bt["context"], " ")
	for _, want := range []string{"newest good snapshot: 12h ago", "next run: 2026-11-24 02:00 UTC"} {
		if !strings.Contains(ctx, want) {
			t.Errorf("context %q lacks %q", ctx, want)
		}
	}
	for _, want := range []string{"⚠️ backup of mastodon.example: partial", snapshotID, "redis/main", "newest good snapshot: 12h ago"} {
		if !strings.Contains(text, want) {
			t.Errorf("fallback text lacks %q:\n%s", want, text)
		}
	}
}

func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, sec := range []string{password, fakeHook, "hooks.slack.com", fakeToken, hookPath} {
		if strings.Contains(s, sec) {
			t.Errorf("%s contains secret %q:\n%s", what, sec, s)
		}
	}
}

func TestWebhookPayload(t *testing.T) {
	srv, rec := webhookServer(t, http.StatusOK)
	s := newSlack(t, Config{WebhookURL: srv.URL + hookPath, Secrets: []string{password, fakeHook}})
	if err := s.Notify(context.Background(), testEvent()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	body := rec.last(t)
	var msg struct {
		Text   string  `json:"text"`
		Blocks []block `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(body), &msg); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	assertMessage(t, msg.Text, msg.Blocks)
	assertNoSecret(t, "webhook body", body)
}

// botServer is a Web API stand-in at /api/chat.postMessage answering answer.
func botServer(t *testing.T, answer string) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.keep(r)
		if r.URL.Path != "/api/chat.postMessage" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

func TestBotToken(t *testing.T) {
	srv, rec := botServer(t, `{"ok":true,"channel":"C0123","ts":"1700000000.000100"}`)
	// No trailing slash: NewSlack adds it.
	s := newSlack(t, Config{Token: fakeToken, Channel: "#backups", APIURL: srv.URL + "/api",
		Secrets: []string{password}})
	if err := s.Notify(context.Background(), testEvent()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	rec.last(t)
	if len(rec.forms) != 1 {
		t.Fatalf("request was not a form: %q", rec.bodies[0])
	}
	f := rec.forms[0]
	if f.Get("token") != fakeToken || f.Get("channel") != "#backups" {
		t.Errorf("token, channel = %q, %q", f.Get("token"), f.Get("channel"))
	}
	var blocks []block
	if err := json.Unmarshal([]byte(f.Get("blocks")), &blocks); err != nil {
		t.Fatalf("blocks field: %v\n%s", err, f.Get("blocks"))
	}
	assertMessage(t, f.Get("text"), blocks)
	// The token is a form field by design; it must not be in the message.
	f.Del("token")
	assertNoSecret(t, "message form", f.Encode())
	assertNoSecret(t, "message text", f.Get("text")+f.Get("blocks"))
}

func TestBotTokenAppError(t *testing.T) {
	srv, _ := botServer(t, `{"ok":false,"error":"channel_not_found"}`)
	s := newSlack(t, Config{Token: fakeToken, Channel: "#nope", APIURL: srv.URL + "/api/"})
	err := s.Notify(context.Background(), testEvent())
	if err == nil || err.Error() != "notify: slack: post: channel_not_found" {
		t.Fatalf("Notify error = %v, want notify: slack: post: channel_not_found", err)
	}
	assertNoSecret(t, "error", err.Error())
}

func TestServerError(t *testing.T) {
	srv, rec := webhookServer(t, http.StatusInternalServerError)
	hook := srv.URL + hookPath
	s := newSlack(t, Config{WebhookURL: hook, Timeout: 5 * time.Second})
	start := time.Now()
	err := s.Notify(context.Background(), testEvent())
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Notify took %s on a 500", took)
	}
	if err == nil || !strings.HasPrefix(err.Error(), "notify: slack: post: ") || !strings.Contains(err.Error(), "500") {
		t.Fatalf("Notify error = %v, want notify: slack: post: ...500...", err)
	}
	if strings.Contains(err.Error(), hook) || strings.Contains(err.Error(), hookPath) {
		t.Errorf("error %q contains the webhook URL", err)
	}
	if n := rec.count.Load(); n != 1 {
		t.Errorf("%d requests, want 1 (no retry)", n)
	}
}

func TestHangingSlack(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // until the test ends, whatever the client does
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	hook := srv.URL + hookPath

	const timeout = 300 * time.Millisecond
	s := newSlack(t, Config{WebhookURL: hook, Timeout: timeout})
	start := time.Now()
	err := s.Notify(context.Background(), testEvent())
	took := time.Since(start)
	if err == nil {
		t.Fatal("Notify returned nil from a hanging server")
	}
	t.Logf("took %s: %v", took, err)
	if took < timeout/2 || took > 5*time.Second {
		t.Errorf("Notify took %s with a %s timeout", took, timeout)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v is not context.DeadlineExceeded", err)
	}
	if strings.Contains(err.Error(), hook) || strings.Contains(err.Error(), hookPath) || strings.Contains(err.Error(), srv.URL) {
		t.Errorf("error %q contains the webhook URL", err)
	}
}

func TestCallerContextCancelled(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	s := newSlack(t, Config{WebhookURL: srv.URL + hookPath, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Notify(ctx, testEvent())
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Notify = %v after %s, want an error soon after the caller's deadline", err, time.Since(start))
	}
	if strings.Contains(err.Error(), hookPath) {
		t.Errorf("error %q contains the webhook URL", err)
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	hook := srv.URL + hookPath
	srv.Close() // nothing listens any more
	s := newSlack(t, Config{WebhookURL: hook, Timeout: 2 * time.Second})
	err := s.Notify(context.Background(), testEvent())
	if err == nil {
		t.Fatal("Notify returned nil with no server")
	}
	if strings.Contains(err.Error(), hookPath) {
		t.Errorf("error %q contains the webhook URL", err)
	}
}

func TestOnFailure(t *testing.T) {
	for _, tc := range []struct {
		result string
		posts  int32
	}{
		{"success", 0},
		{"partial", 1},
		{"failure", 1},
	} {
		t.Run(tc.result, func(t *testing.T) {
			srv, rec := webhookServer(t, http.StatusOK)
			s := newSlack(t, Config{WebhookURL: srv.URL + hookPath, On: "failure"})
			e := testEvent()
			e.Result = tc.result
			if err := s.Notify(context.Background(), e); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if n := rec.count.Load(); n != tc.posts {
				t.Errorf("%d requests, want %d", n, tc.posts)
			}
		})
	}
}

func TestNoSecretInPayloadOrError(t *testing.T) {
	// The secrets are in a failure reason, the summary, the host and an
	// artifact name; the server refuses so that the error is checked too.
	e := testEvent()
	e.Summary = "mirrored to https://backup:" + password + "@b2.example/bucket"
	e.Artifacts = append(e.Artifacts, Artifact{Component: "config", Name: "env-" + password, Bytes: 10})
	e.Failures = append(e.Failures, Failure{What: "notify", Reason: "posting to " + fakeHook + " with " + password})
	secrets := []string{password, fakeHook}

	t.Run("webhook", func(t *testing.T) {
		srv, rec := webhookServer(t, http.StatusBadRequest)
		s := newSlack(t, Config{WebhookURL: srv.URL + hookPath, Secrets: secrets})
		err := s.Notify(context.Background(), e)
		if err == nil {
			t.Fatal("Notify returned nil on a 400")
		}
		body := rec.last(t)
		assertNoSecret(t, "webhook body", body)
		assertNoSecret(t, "error", err.Error())
		if !strings.Contains(body, "[REDACTED]") {
			t.Errorf("body has no [REDACTED] mark:\n%s", body)
		}
	})
	t.Run("token", func(t *testing.T) {
		srv, rec := botServer(t, `{"ok":false,"error":"invalid_blocks"}`)
		s := newSlack(t, Config{Token: fakeToken, Channel: "C1", APIURL: srv.URL + "/api/", Secrets: secrets})
		err := s.Notify(context.Background(), e)
		if err == nil {
			t.Fatal("Notify returned nil on ok:false")
		}
		rec.last(t)
		f := rec.forms[0]
		f.Del("token")
		assertNoSecret(t, "form body", f.Encode())
		assertNoSecret(t, "decoded text and blocks", f.Get("text")+f.Get("blocks"))
		assertNoSecret(t, "error", err.Error())
	})
}

func TestNewSlackConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want string // substring of the error; "" for success
	}{
		{"webhook", Config{WebhookURL: fakeHook}, ""},
		{"token", Config{Token: fakeToken, Channel: "C1", On: "failure", Timeout: time.Second}, ""},
		{"nothing", Config{}, "set a webhook url, or a token and channel"},
		{"both", Config{WebhookURL: fakeHook, Token: fakeToken, Channel: "C1"}, "not both"},
		{"token without channel", Config{Token: fakeToken}, "without a channel"},
		{"channel without token", Config{Channel: "C1"}, "without a token"},
		{"bad on", Config{WebhookURL: fakeHook, On: "sometimes"}, `on "sometimes"`},
		{"negative timeout", Config{WebhookURL: fakeHook, Timeout: -time.Second}, "negative timeout"},
		{"not a url", Config{WebhookURL: "hooks.slack.com/services/T000/B000/XXXX"}, "not an http(s) url"},
		{"bad url", Config{WebhookURL: "https://hooks.slack.com/services/T000/B000/XXXX\x7f"}, "not an http(s) url"},
		{"api url with webhook", Config{WebhookURL: fakeHook, APIURL: "http://localhost/api/"}, "only to a token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSlack(tc.c)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("NewSlack: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("NewSlack error = %v, want one containing %q", err, tc.want)
			case err != nil:
				assertNoSecret(t, "error", err.Error())
			}
		})
	}
}
