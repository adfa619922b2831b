package preflight

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"mbackup/internal/config"
)

// TestSlack: without --notify nothing is posted; with it one test message
// is; a webhook that refuses it is a Fail that holds neither the webhook
// nor a secret of the configuration. No Slack section, no result.
func TestSlack(t *testing.T) {
	var mu sync.Mutex
	var posts []string
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		posts = append(posts, string(b))
		w.WriteHeader(status)
		io.WriteString(w, "no_service: /services/T0/B0/xyzzy and pg-pass-plugh")
	}))
	defer srv.Close()
	cfg := &config.Config{Host: "mastodon.example", Notify: &config.Notify{Slack: &config.Slack{
		WebhookURL: config.NewSecret(srv.URL + "/services/T0/B0/xyzzy")}}}
	secrets := []string{"pg-pass-plugh"}

	if rs := slack(context.Background(), &config.Config{}, true, nil); rs != nil {
		t.Errorf("without a Slack section: %+v", rs)
	}
	rs := slack(context.Background(), cfg, false, secrets)
	if len(rs) != 1 || rs[0] != (Result{What: "slack", Level: OK, Message: "configured; mbackup check --notify posts a test message"}) || len(posts) != 0 {
		t.Errorf("without --notify: %+v, %d posted", rs, len(posts))
	}
	rs = slack(context.Background(), cfg, true, secrets)
	if len(rs) != 1 || rs[0].Level != OK || rs[0].Message != "test message posted" ||
		len(posts) != 1 || !strings.Contains(posts[0], "a test message from mbackup check") {
		t.Errorf("with --notify: %+v, posted %q", rs, posts)
	}
	mu.Lock()
	status = http.StatusNotFound
	mu.Unlock()
	rs = slack(context.Background(), cfg, true, secrets)
	if len(rs) != 1 || rs[0].Level != Fail {
		t.Fatalf("a refused post: %+v", rs)
	}
	for _, s := range []string{"xyzzy", "plugh"} {
		if strings.Contains(rs[0].Text(), s) {
			t.Errorf("the result holds a secret: %s", rs[0].Text())
		}
	}
}
