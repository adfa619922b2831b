package mediasync

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mbackup/internal/b2test"
)

// rateGate answers 429 (Retry-After: 1) to a request when n requests were
// already served in the second before it, as a provider with a limit of n
// requests per second does.
type rateGate struct {
	n      int
	mu     sync.Mutex
	served []time.Time
}

func (g *rateGate) answer(w http.ResponseWriter, r *http.Request) bool {
	g.mu.Lock()
	now := time.Now()
	i := 0
	for i < len(g.served) && now.Sub(g.served[i]) >= time.Second {
		i++
	}
	g.served = g.served[i:]
	over := len(g.served) >= g.n
	if !over {
		g.served = append(g.served, now)
	}
	g.mu.Unlock()
	if over {
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
	}
	return over
}

// timedLog records when each line was written.
type timedLog struct {
	mu    sync.Mutex
	lines []string
	at    []time.Time
}

func (l *timedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range strings.Split(strings.TrimSuffix(string(p), "\n"), "\n") {
		l.lines = append(l.lines, s)
		l.at = append(l.at, time.Now())
	}
	return len(p), nil
}

// first returns when the first line containing s was written.
func (l *timedLog) first(s string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, line := range l.lines {
		if strings.Contains(line, s) {
			return l.at[i], true
		}
	}
	return time.Time{}, false
}

// windowMax is the most times in any one-second window at or after from.
func windowMax(ts []time.Time, from time.Time) int {
	ts = slices.DeleteFunc(slices.Clone(ts), func(t time.Time) bool { return t.Before(from) })
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	best, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= time.Second {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// TestAdaptToSourceLimit: a source that serves 25 requests per second and
// answers 429 above it, mirrored with a limit of 100 per second. The run
// finishes with every object; the limiter halves its rate (logged, and in
// the result), and once it did, no one-second window sees much more than
// the source's 25 requests, 429s included (margin: half again, plus one
// per worker in flight), while before it a window sees up to 100.
func TestAdaptToSourceLimit(t *testing.T) {
	const n, limit, objects = 25, 100, 250
	c, bucket := newBucket(t)
	want := seedSmall(t, c, bucket, objects)
	g := &rateGate{n: n}
	p := newCountingProxy(t, g.answer)
	l := NewLimiter(limit)
	st, err := newLocalDir(t)
	if err != nil {
		t.Fatal(err)
	}
	var log timedLog
	o := opts(p.limitedClient(t, l), bucket, st, &log)
	o.Workers = 8
	o.SourceLimiter = l
	p.take()
	res := mirror(t, o)
	sameContent(t, storeContent(t, st, "media/"), want)

	p.mu.Lock()
	times, throttled := slices.Clone(p.times), slices.Clone(p.thrott)
	p.mu.Unlock()
	lowered, ok := log.first("source: throttled")
	th := res.SourceThrottling
	t.Logf("%d requests, %d answered 429, %d pauses, lowest rate %v/s, in %v; log %q",
		len(times), len(throttled), th.Pauses, th.Lowest, res.Duration.Round(time.Millisecond), log.lines)
	if !ok || th.Lowest > limit/2 || th.Lowest < limit/rateSteps || th.Throttles != int64(len(throttled)) || th.Limit != limit {
		t.Fatalf("throttling %+v (429s sent: %d); want the rate halved at least once, and logged", th, len(throttled))
	}
	if !strings.Contains(res.Throttled("source"), fmt.Sprintf("throttled %d times by the source; rate lowered to", len(throttled))) {
		t.Errorf("summary %q", res.Throttled("source"))
	}
	// From the end of the pause that lowered the rate (at most 1.25 s).
	after := windowMax(times, lowered.Add(1250*time.Millisecond))
	t.Logf("at most %d requests in a second once the rate was lowered (source limit %d)", after, n)
	if bound := n*3/2 + o.Workers; after > bound {
		t.Errorf("%d requests in one second after the rate was lowered; want at most %d (source limit %d)", after, bound, n)
	}
}

// TestStoreThrottlePausesTheRun: the b2 store's service answers 503 with
// Retry-After: 1 to three uploads. The store's limiter hears them through
// the store (OnThrottle) and pauses every worker: within the second after
// the first 503, the store receives no new upload but the throttled ones'
// retries and those already granted (at most one per worker). The run
// finishes with every object, and the result counts the throttles.
func TestStoreThrottlePausesTheRun(t *testing.T) {
	c, bucket := newBucket(t)
	want := seedSmall(t, c, bucket, 60)
	st, srv := newB2(t)
	var log bytes.Buffer
	o := opts(c, bucket, st, &log)
	o.Workers = 8
	o.StoreLimiter = NewLimiter(200)
	// Let a few uploads through first, so the workers are busy.
	go func() {
		for srv.Count("b2_upload_file") < 10 {
			time.Sleep(time.Millisecond)
		}
		srv.Inject("b2_upload_file", b2test.Fault{Status: http.StatusServiceUnavailable, RetryAfter: 1, Times: 3})
	}()
	res := mirror(t, o)
	sameContent(t, storeContent(t, st, "media/"), want)
	th := res.StoreThrottling
	reqs := srv.Requests()
	var first time.Time
	for _, r := range reqs {
		if r.Status == http.StatusServiceUnavailable {
			first = r.Time
			break
		}
	}
	if first.IsZero() {
		t.Fatalf("no 503 sent; %d requests", len(reqs))
	}
	during := 0
	for _, r := range reqs {
		if r.Method == "b2_upload_file" && r.Time.After(first) && r.Time.Before(first.Add(900*time.Millisecond)) {
			during++
		}
	}
	t.Logf("store throttling %+v; %d uploads within 0.9 s after the first 503", th, during)
	if th.Throttles != 3 || th.Pauses < 1 {
		t.Errorf("store throttling %+v; want 3 throttles and a pause", th)
	}
	if during > o.Workers+3 {
		t.Errorf("%d uploads within the pause after the 503; want at most %d", during, o.Workers+3)
	}
	if !strings.Contains(res.Throttled("source"), "throttled 3 times by the store") {
		t.Errorf("summary %q", res.Throttled("source"))
	}
}
