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

	"mbackup/internal/metrics"
	"mbackup/internal/notify"
	"mbackup/internal/snapshot"
	"mbackup/internal/stream"
)

// TestNotifyNeverFailsTheRun: a Slack that answers 500 or never answers
// costs a run at most the notification timeout, is logged, and the payload
// that does go out holds no secret.
func TestNotifyNeverFailsTheRun(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		switch r.URL.Path {
		case "/500":
			w.WriteHeader(500)
		case "/hang":
			<-hang
		}
	}))
	defer func() { close(hang); srv.Close() }() // in this order: Close waits for the hung handler
	m := &snapshot.Manifest{ID: "20261123T120000Z-abcdef", Status: snapshot.StatusPartial,
		Artifacts: []snapshot.Artifact{{Component: "postgres", Name: "mastodon_production", Sums: stream.Sums{StoredBytes: 1 << 20}}},
		Failed:    []snapshot.Failure{{Component: "redis", Name: "main", Reason: "NOAUTH for redis://:hunter2-secret@10.0.0.5:6379"}}}
	r := Outcome{Task: Backup, Started: time.Now(), Manifest: m, Err: errors.New("backup: partial"), NewestGood: time.Now().Add(-time.Hour)}
	for _, path := range []string{"/ok", "/500", "/hang"} {
		var log strings.Builder
		s, err := notify.NewSlack(notify.Config{WebhookURL: srv.URL + path, Timeout: 300 * time.Millisecond, Secrets: []string{"hunter2-secret"}})
		if err != nil {
			t.Fatal(err)
		}
		o := &Observer{log: slog.New(slog.NewTextHandler(&log, nil)), slack: s, host: "social.example", metrics: metrics.New("backup")}
		begin := time.Now()
		o.Done(context.Background(), r)
		took := time.Since(begin)
		failed := strings.Contains(log.String(), "notification failed")
		if failed != (path != "/ok") || took > 5*time.Second {
			t.Errorf("%s: took %s, logged:\n%s", path, took, log.String())
		}
		t.Logf("%s: the run's report took %s", path, took.Round(time.Millisecond))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 3 {
		t.Fatalf("%d posts", len(bodies))
	}
	for _, b := range bodies {
		if strings.Contains(b, "hunter2") || !strings.Contains(b, "mastodon_production") || !strings.Contains(b, "redis/main") {
			t.Errorf("payload: %s", b)
		}
	}
}
