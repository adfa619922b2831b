package preflight

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"mbackup/internal/config"
	"mbackup/internal/dump"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage/local"
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

	if rs := slack(context.Background(), &config.Config{}, true, nil, nil); rs != nil {
		t.Errorf("without a Slack section: %+v", rs)
	}
	rs := slack(context.Background(), cfg, false, secrets, nil)
	if len(rs) != 1 || rs[0] != (Result{What: "slack", Level: OK, Message: "configured; mbackup check --notify posts a test message"}) || len(posts) != 0 {
		t.Errorf("without --notify: %+v, %d posted", rs, len(posts))
	}
	rs = slack(context.Background(), cfg, true, secrets, nil)
	if len(rs) != 1 || rs[0].Level != OK || rs[0].Message != "test message posted" ||
		len(posts) != 1 || !strings.Contains(posts[0], "a test message from mbackup check") {
		t.Errorf("with --notify: %+v, posted %q", rs, posts)
	}
	mu.Lock()
	status = http.StatusNotFound
	mu.Unlock()
	rs = slack(context.Background(), cfg, true, secrets, nil)
	if len(rs) != 1 || rs[0].Level != Fail {
		t.Fatalf("a refused post: %+v", rs)
	}
	for _, s := range []string{"xyzzy", "plugh"} {
		if strings.Contains(rs[0].Text(), s) {
			t.Errorf("the result holds a secret: %s", rs[0].Text())
		}
	}
}

// TestCheckNotifyMessage: the test message of mbackup check --notify
// tells of the newest good snapshot the store probe listed, says "no good
// snapshot!" only of a store that holds none, and leaves the line out when
// the store could not be listed.
func TestCheckNotifyMessage(t *testing.T) {
	var mu sync.Mutex
	var last string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = string(b)
		mu.Unlock()
	}))
	defer srv.Close()
	good := t.TempDir()
	s, err := local.New(good)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	tk := &snapshot.Taker{Store: s, Recipients: []age.Recipient{id.Recipient()}, Host: "mastodon.example", Tool: "mbackup test"}
	m, err := tk.Take(context.Background(), []snapshot.Job{{Component: "redis", Name: "main", Ext: ".rdb",
		Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) {
			_, err := io.WriteString(w, "REDIS0011")
			return dump.Info{}, err
		}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		storage    config.Storage
		want, lack string
	}{
		{"a good snapshot", config.Storage{Type: config.StorageLocal, Path: good},
			"newest good snapshot: just now (" + m.Started.UTC().Format("2006-01-02 15:04 UTC") + ")", "no good snapshot!"},
		{"an empty store", config.Storage{Type: config.StorageLocal, Path: t.TempDir()}, "no good snapshot!", "newest good snapshot"},
		{"a store that cannot be used", config.Storage{Type: "ftp"}, "a test message from mbackup check", "good snapshot"},
	} {
		cfg := &config.Config{Host: "mastodon.example", Storage: c.storage,
			Notify: &config.Notify{Slack: &config.Slack{WebhookURL: config.NewSecret(srv.URL + "/services/T0/B0/xyzzy")}}}
		var slackResults []Result
		Run(context.Background(), cfg, Options{ConfigPath: filepath.Join(t.TempDir(), "mbackup.yaml"), Notify: true}, func(rs []Result) {
			for _, r := range rs {
				if r.What == "slack" {
					slackResults = append(slackResults, r)
				}
			}
		})
		mu.Lock()
		body := last
		mu.Unlock()
		if len(slackResults) != 1 || slackResults[0].Level != OK || !strings.Contains(body, c.want) || strings.Contains(body, c.lack) {
			t.Errorf("%s: %+v; posted:\n%s", c.name, slackResults, body)
		}
	}
}
