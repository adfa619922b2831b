package mediasync

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// countingProxy forwards HTTP requests to the shared versitygw and records
// when each arrived; answer, if set, may answer a request itself.
type countingProxy struct {
	mu     sync.Mutex
	count  map[string]int
	times  []time.Time // arrival of every request
	thrott []time.Time // when each 429 was sent
	srv    *httptest.Server
}

func newCountingProxy(t *testing.T, answer func(w http.ResponseWriter, r *http.Request) bool) *countingProxy {
	t.Helper()
	target, err := url.Parse("http://" + s3srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &countingProxy{count: map[string]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := r.Method
		if r.URL.Query().Has("list-type") {
			k += " list"
		}
		p.mu.Lock()
		p.count[k]++
		p.times = append(p.times, time.Now())
		p.mu.Unlock()
		if answer != nil && answer(w, r) {
			p.mu.Lock()
			p.thrott = append(p.thrott, time.Now())
			p.mu.Unlock()
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// client is a source client reaching the server through the proxy.
func (p *countingProxy) client(t *testing.T) *minio.Client {
	return p.limitedClient(t, nil)
}

func (p *countingProxy) limitedClient(t *testing.T, l *Limiter) *minio.Client {
	t.Helper()
	c, err := NewLimitedSourceClient(p.srv.Listener.Addr().String(), false, s3srv.Region, s3srv.AccessKeyID, s3srv.SecretAccessKey, l)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// take returns the counts so far and starts again from zero.
func (p *countingProxy) take() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.count
	p.count, p.times, p.thrott = map[string]int{}, nil, nil
	return c
}

// maxPerSecond is the most requests that arrived in any one-second window.
func (p *countingProxy) maxPerSecond() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return windowMax(p.times, time.Time{})
}

func seedSmall(t *testing.T, c *minio.Client, bucket string, n int) map[string]string {
	want := map[string]string{}
	for i := range n {
		k := fmt.Sprintf("media_attachments/files/%04d.png", i)
		putObj(t, c, bucket, k, []byte(k))
		want[k] = k
	}
	return want
}

// TestSourceRateLimit: with a limit of 20 requests per second (burst 2),
// no one-second window sees more than 20 + 2 requests at the source, plus
// the workers (see TestStoreRateLimit), and the run takes no less than
// the limit says.
func TestSourceRateLimit(t *testing.T) {
	c, bucket := newBucket(t)
	want := seedSmall(t, c, bucket, 60)
	p := newCountingProxy(t, nil)
	l := NewLimiter(20)
	st, err := newLocalDir(t)
	if err != nil {
		t.Fatal(err)
	}
	o := opts(p.limitedClient(t, l), bucket, st, nil)
	o.Workers = 8
	p.take()
	start := time.Now()
	res := mirror(t, o)
	wall := time.Since(start)
	sameContent(t, storeContent(t, st, "media/"), want)
	got := p.maxPerSecond()
	n := p.take()
	t.Logf("requests %v in %v; at most %d in a second (limit 20, burst %d)", n, wall, got, l.Burst())
	if res.Copied != 60 {
		t.Errorf("copied %d", res.Copied)
	}
	if got > 20+l.Burst()+o.Workers {
		t.Errorf("%d requests in one second; limit 20, burst %d, %d workers", got, l.Burst(), o.Workers)
	}
	// 61 requests at 20 a second after a burst of 2: at least 2.9 s.
	if min := time.Duration(float64(n["GET"]+n["GET list"]-l.Burst()-1) / 20 * float64(time.Second)); wall < min {
		t.Errorf("run took %v; the limit allows no less than %v", wall, min)
	}
}

// TestRetryAfterPausesTheRun: a source answering 429 with Retry-After: 1
// to 10 % of the GETs: the run finishes with every object, each 429
// pauses the whole run (few requests arrive during a pause: at most the
// workers' requests already granted), and the retries stay within the
// limit.
func TestRetryAfterPausesTheRun(t *testing.T) {
	c, bucket := newBucket(t)
	want := seedSmall(t, c, bucket, 40)
	var mu sync.Mutex
	rnd := rand.New(rand.NewPCG(1, 2))
	p := newCountingProxy(t, func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		hit := r.Method == http.MethodGet && !r.URL.Query().Has("list-type") && rnd.IntN(10) == 0
		mu.Unlock()
		if hit {
			w.Header().Set("Retry-After", strconv.Itoa(1))
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
		}
		return hit
	})
	l := NewLimiter(50)
	st, err := newLocalDir(t)
	if err != nil {
		t.Fatal(err)
	}
	o := opts(p.limitedClient(t, l), bucket, st, nil)
	o.Workers = 8
	p.take()
	res := mirror(t, o)
	sameContent(t, storeContent(t, st, "media/"), want)
	p.mu.Lock()
	throttled, times := slices.Clone(p.thrott), slices.Clone(p.times)
	p.mu.Unlock()
	t.Logf("%d requests, %d answered 429, %d pauses; %+v", len(times), len(throttled), l.Pauses(), res.Counts)
	if len(throttled) == 0 || l.Pauses() == 0 {
		t.Fatalf("no 429 sent (%d) or no pause (%d)", len(throttled), l.Pauses())
	}
	// After the 429 that began a pause, only requests granted before it
	// may arrive during the next second: at most one per worker.
	for _, t0 := range throttled {
		n := 0
		for _, at := range times {
			if at.After(t0) && at.Before(t0.Add(900*time.Millisecond)) {
				n++
			}
		}
		if n > o.Workers {
			t.Errorf("%d requests within the pause after the 429 at %v; want at most %d", n, t0.Format("15:04:05.000"), o.Workers)
		}
	}
}

// TestRetryAfterHeader reads seconds and dates, and bounds the wait.
func TestRetryAfterHeader(t *testing.T) {
	cases := map[string]time.Duration{"2": 2 * time.Second, "": defaultRetryAfter, "x": defaultRetryAfter, "100000": maxRetryAfter}
	for h, want := range cases {
		if got := retryAfter(h); got != want {
			t.Errorf("retryAfter(%q) = %v; want %v", h, got, want)
		}
	}
	if got := retryAfter(time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)); got < time.Second || got > 3*time.Second {
		t.Errorf("retryAfter(in 3s as a date) = %v", got)
	}
}
