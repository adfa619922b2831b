package s3

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// TestOnThrottle: a 503 Slow Down with Retry-After in front of the server
// reaches the function given to OnThrottle with the header and the time
// the request was sent; minio-go's retry then gets the answer. After
// OnThrottle(nil) nothing is called.
func TestOnThrottle(t *testing.T) {
	ctx := context.Background()
	bucket := "throttle"
	if err := srv.CreateBucket(ctx, bucket, false); err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse("http://" + srv.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	slowDown := 0
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hit := r.Method == http.MethodHead && slowDown > 0
		if hit {
			slowDown--
		}
		mu.Unlock()
		if hit {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer front.Close()
	cfg := testConfig(bucket, "p/")
	cfg.Endpoint = front.Listener.Addr().String()
	s := newStore(t, cfg)

	type heard struct {
		sent time.Time
		h    string
	}
	var got []heard
	s.OnThrottle(func(sent time.Time, h string) {
		mu.Lock()
		got = append(got, heard{sent, h})
		mu.Unlock()
	})
	mu.Lock()
	slowDown = 1
	mu.Unlock()
	if _, err := s.PutSized(ctx, "a", bytes.NewReader([]byte("abc")), 3); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := s.Stat(ctx, "a"); err != nil {
		t.Fatalf("stat after a 503: %v", err)
	}
	mu.Lock()
	if len(got) != 1 || got[0].h != "1" || got[0].sent.Before(start) || got[0].sent.After(time.Now()) {
		t.Errorf("heard %+v; want one 503 with Retry-After 1", got)
	}
	got, slowDown = nil, 1
	mu.Unlock()
	s.OnThrottle(nil)
	if _, err := s.Stat(ctx, "a"); err != nil {
		t.Fatalf("stat after a 503: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 0 || slowDown != 0 {
		t.Errorf("heard %+v after OnThrottle(nil) (503s left to send: %d)", got, slowDown)
	}
}
