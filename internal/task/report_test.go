package task

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"mbackup/internal/b2test"
	"mbackup/internal/config"
	"mbackup/internal/dump"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/storage/b2"
	"mbackup/internal/storage/local"
)

// webhook is a Slack incoming webhook that keeps every message posted.
type webhook struct {
	srv   *httptest.Server
	mu    sync.Mutex
	posts []string
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.posts = append(w.posts, string(b))
		w.mu.Unlock()
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhook) last(t *testing.T) string {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.posts) == 0 {
		t.Fatal("nothing posted")
	}
	return w.posts[len(w.posts)-1]
}

// goodStore is a local store holding one complete snapshot, taken for real.
func goodStore(t *testing.T) (*local.Store, *snapshot.Manifest) {
	t.Helper()
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	tk := &snapshot.Taker{Store: s, Recipients: []age.Recipient{id.Recipient()}, Host: "social.example", Tool: "mbackup test"}
	m, err := tk.Take(context.Background(), []snapshot.Job{{Component: "redis", Name: "main", Ext: ".rdb",
		Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) {
			_, err := io.WriteString(w, "REDIS0011")
			return dump.Info{}, err
		}}})
	if err != nil {
		t.Fatal(err)
	}
	return s, m
}

// TestReportTellsTheTruth: the report of a run cancelled by Ctrl-C or
// SIGTERM still tells the newest good snapshot (it is looked up under a
// deadline of its own); a report whose store cannot be listed leaves the
// line out rather than say "no good snapshot!"; a store that holds none
// says so; a failure's reason does not repeat the task's name.
func TestReportTellsTheTruth(t *testing.T) {
	hook := newWebhook(t)
	cfg := &config.Config{Host: "social.example", Notify: &config.Notify{Slack: &config.Slack{WebhookURL: config.NewSecret(hook.srv.URL + "/services/T/B/x")}}}
	good, m := goodStore(t)
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	srv.Inject("b2_list_file_names", b2test.Fault{Status: http.StatusForbidden})
	broken, err := b2.New(context.Background(), b2.Config{KeyID: srv.KeyID, AppKey: srv.AppKey, Bucket: "backups",
		APIBase: srv.URL, CallTimeout: 5 * time.Second, StallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broken.Close() })
	empty, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	interrupted := errors.New("backup: snapshot: take 20261203T100000Z-abcdef: interrupted, nothing committed: context canceled")
	for _, c := range []struct {
		name       string
		ctx        context.Context
		s          storage.Store
		want, lack []string
	}{
		{"cancelled run", cancelled, good, []string{"newest good snapshot: just now (" + m.Started.Format("2006-01-02 15:04 UTC") + ")",
			"`backup`: snapshot: take 20261203T100000Z-abcdef: interrupted"}, []string{"no good snapshot!", "backup: backup:"}},
		{"store not listed", context.Background(), broken, nil, []string{"no good snapshot!", "newest good snapshot"}},
		{"store without a good snapshot", cancelled, empty, []string{"no good snapshot!"}, []string{"newest good snapshot"}},
	} {
		var log strings.Builder
		r := Outcome{Task: Backup, Started: time.Now(), Err: interrupted}
		if err := Report(c.ctx, slog.New(slog.NewTextHandler(&log, nil)), cfg, c.s, r, true, ""); err != nil {
			t.Fatal(err)
		}
		body := hook.last(t)
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: the message lacks %q:\n%s", c.name, w, body)
			}
		}
		for _, l := range c.lack {
			if strings.Contains(body, l) {
				t.Errorf("%s: the message says %q:\n%s", c.name, l, body)
			}
		}
		if strings.Contains(log.String(), "notification failed") {
			t.Errorf("%s: log:\n%s", c.name, log.String())
		}
	}
}
