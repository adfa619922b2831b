package mediasync

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// answeringProxy forwards to the shared S3 server, except that the GETs of
// some objects get an S3 error: answer(key, n) for the n-th GET of key (from
// 1) returns a status, or 0 to forward. It counts the GETs of each object.
// The client does not retry by itself, so every GET is one try of Mirror.
type answeringProxy struct {
	answer func(key string, n int) int
	mu     sync.Mutex
	gets   map[string]int
}

func (p *answeringProxy) start(t *testing.T, bucket string) *minio.Client {
	t.Helper()
	p.gets = map[string]int{}
	target, _ := url.Parse("http://" + s3srv.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target) // keeps the signed Host header
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if key, ok := strings.CutPrefix(r.URL.Path, "/"+bucket+"/"); ok && key != "" && r.Method == http.MethodGet {
			p.mu.Lock()
			p.gets[key]++
			n := p.gets[key]
			p.mu.Unlock()
			if status := p.answer(key, n); status != 0 {
				code := map[int]string{403: "AccessDenied", 503: "SlowDown"}[status]
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(status)
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>test</Message></Error>`, code)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	c, err := minio.New(strings.TrimPrefix(ts.URL, "http://"), &minio.Options{
		Creds:  credentials.NewStaticV4(s3srv.AccessKeyID, s3srv.SecretAccessKey, ""),
		Region: s3srv.Region, MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *answeringProxy) count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gets[key]
}

// TestMirrorRetries: a 403 is tried once; a 503 is tried again, up to
// Retries more times, and a copy that passes on a later try is copied.
func TestMirrorRetries(t *testing.T) {
	c, bucket := newBucket(t)
	for _, k := range []string{"busy", "denied", "down", "ok"} {
		putObj(t, c, bucket, k, []byte("v-"+k))
	}
	p := &answeringProxy{answer: func(key string, n int) int {
		switch {
		case key == "denied":
			return 403
		case key == "down", key == "busy" && n < 3:
			return 503
		}
		return 0
	}}
	st, _ := newB2(t)
	o := opts(p.start(t, bucket), bucket, st, nil) // Retries 0: the default, 2
	res, err := Mirror(context.Background(), o)
	if err == nil {
		t.Fatal("mirror succeeded with a 403 and a steady 503")
	}
	if res.Copied != 2 || res.Failed != 2 {
		t.Errorf("copied %d, failed %d; want 2 and 2 (%+v)", res.Copied, res.Failed, res.Failures)
	}
	for key, want := range map[string]int{"denied": 1, "down": 3, "busy": 3, "ok": 1} {
		if got := p.count(key); got != want {
			t.Errorf("%d GETs of %q, want %d", got, key, want)
		}
	}
	sameContent(t, storeContent(t, st, "media/"), map[string]string{"busy": "v-busy", "ok": "v-ok"})
}
