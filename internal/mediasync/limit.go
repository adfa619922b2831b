package mediasync

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"mbackup/internal/retry"
	"mbackup/internal/storage"
)

// Limiter is a token bucket shared by every request to one service: at
// most Burst requests at once after a quiet spell, and PerSecond on
// average. Each request reserves the next free slot, so waiting requests
// are spread over time rather than woken together. A Pause (a 429 or 503
// with Retry-After) holds every request of the run until it ends, then
// they resume at the rate, from an empty bucket: no burst after a pause.
// Repeated pauses lower the rate, and a stretch without one raises it back
// (see adapt).
type Limiter struct {
	mu       sync.Mutex
	rate     float64 // requests per second, at most a.limit
	burst    float64
	tokens   float64   // may go negative: reserved ahead
	last     time.Time // when tokens was computed
	until    time.Time // the end of the pause, if any
	pausedAt time.Time // when the last pause began
	epoch    int64     // pauses so far
	pauses   int64
	a        adapt
}

// DefaultRequestsPerSecond stays under DigitalOcean Spaces' 150 PUT, COPY,
// DELETE and LIST operations per second per Space (240 in all) and B2's
// 500 requests per second.
const DefaultRequestsPerSecond = 150

// NewLimiter allows perSecond requests on average with a burst of a tenth
// of that (at least 1). perSecond <= 0 gives nil, which does not limit.
func NewLimiter(perSecond float64) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	now := time.Now()
	l := &Limiter{last: now, a: newAdapt(perSecond, now)}
	l.setRate(perSecond)
	l.tokens = l.burst
	return l
}

// setRate sets the rate and the burst that goes with it.
func (l *Limiter) setRate(perSecond float64) {
	l.rate = perSecond
	l.burst = max(1, perSecond/10)
}

// Burst is how many requests may go at once after a quiet spell: in any
// one-second window, at most PerSecond + Burst requests start. It shrinks
// with the rate.
func (l *Limiter) Burst() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.burst)
}

// Pauses is the number of pauses so far.
func (l *Limiter) Pauses() int64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pauses
}

// Wait blocks until the caller may send one request, and returns the
// pause epoch it was granted in.
func (l *Limiter) Wait(ctx context.Context) (int64, error) {
	if l == nil {
		return 0, nil
	}
	for {
		l.mu.Lock()
		now := time.Now()
		if now.Before(l.until) {
			d := l.until.Sub(now)
			l.mu.Unlock()
			if err := retry.Sleep(ctx, d); err != nil {
				return 0, err
			}
			continue
		}
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		l.last = now
		l.a.log(l.raise(now))
		l.tokens--
		epoch := l.epoch
		d := time.Duration(-l.tokens / l.rate * float64(time.Second))
		l.mu.Unlock()
		if d <= 0 {
			return epoch, nil
		}
		if err := retry.Sleep(ctx, d); err != nil {
			return 0, err
		}
		l.mu.Lock()
		paused := l.epoch != epoch
		l.mu.Unlock()
		if !paused {
			return epoch, nil
		}
		// A pause began while this request waited for its slot: wait
		// for its end and take a new slot.
	}
}

// Pause counts a 429 or 503 and holds every request for d plus up to a
// quarter more (jitter, so that runs sharing a limit do not come back
// together), unless the request that saw it was granted before the
// current pause began: its answer belongs to the burst the pause already
// answers.
func (l *Limiter) Pause(epoch int64, d time.Duration) {
	if l == nil {
		return
	}
	d += rand.N(d/4 + 1)
	l.mu.Lock()
	l.a.throttles++
	if epoch != l.epoch {
		l.mu.Unlock()
		return
	}
	l.a.log(l.pause(time.Now(), d))
	l.mu.Unlock()
}

// pauseAfter is Pause for an answer to a request sent at sent, outside
// Wait (the store's own requests): it is ignored when the request was sent
// before the current pause began, or a pause is on.
func (l *Limiter) pauseAfter(sent time.Time, d time.Duration) {
	d += rand.N(d/4 + 1)
	l.mu.Lock()
	l.a.throttles++
	now := time.Now()
	if sent.Before(l.pausedAt) || now.Before(l.until) {
		l.mu.Unlock()
		return
	}
	l.a.log(l.pause(now, d))
	l.mu.Unlock()
}

// pause begins a pause of d at now, with l.mu held, and returns what to
// log about the rate.
func (l *Limiter) pause(now time.Time, d time.Duration) string {
	l.epoch++
	l.pauses++
	l.pausedAt = now
	l.until = now.Add(d)
	l.tokens = 0 // resume at the rate, without a burst
	l.last = l.until
	return l.lower()
}

// Limits of Retry-After: absent or unreadable means defaultRetryAfter, and
// a longer wait than maxRetryAfter is cut to it.
const (
	defaultRetryAfter = time.Second
	maxRetryAfter     = time.Minute
)

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(h string) time.Duration {
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(h); err == nil {
		return min(max(time.Until(t), 0), maxRetryAfter)
	}
	return defaultRetryAfter
}

// limitedTransport sends every request through l: it waits for a slot,
// and a 429 or 503 answer pauses every request for its Retry-After.
// minio-go then retries the request, through l again.
type limitedTransport struct {
	l    *Limiter
	next http.RoundTripper
}

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	epoch, err := t.l.Wait(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		t.l.Pause(epoch, retryAfter(resp.Header.Get("Retry-After")))
	}
	return resp, err
}

// limitedStore takes a slot of l for each call to the store: each Put,
// PutSized, Get, Stat and Delete, and each page of 1000 objects of a List.
// A multipart upload is one call. The store's own client handles its
// 429s.
type limitedStore struct {
	storage.Store
	l *Limiter
}

// limitStore returns st limited by l (st itself when l is nil).
func limitStore(st storage.Store, l *Limiter) storage.Store {
	if l == nil {
		return st
	}
	if _, ok := st.(SizedPutter); ok {
		return limitedSizedStore{limitedStore{st, l}}
	}
	return limitedStore{st, l}
}

func (s limitedStore) Put(ctx context.Context, key string, r io.Reader) (storage.Object, error) {
	if _, err := s.l.Wait(ctx); err != nil {
		return storage.Object{}, err
	}
	return s.Store.Put(ctx, key, r)
}

func (s limitedStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if _, err := s.l.Wait(ctx); err != nil {
		return nil, err
	}
	return s.Store.Get(ctx, key)
}

func (s limitedStore) Stat(ctx context.Context, key string) (storage.Object, error) {
	if _, err := s.l.Wait(ctx); err != nil {
		return storage.Object{}, err
	}
	return s.Store.Stat(ctx, key)
}

func (s limitedStore) Delete(ctx context.Context, key string) error {
	if _, err := s.l.Wait(ctx); err != nil {
		return err
	}
	return s.Store.Delete(ctx, key)
}

// listPage is the number of objects of one List request.
const listPage = 1000

func (s limitedStore) List(ctx context.Context, prefix string, fn func(storage.Object) error) error {
	if _, err := s.l.Wait(ctx); err != nil {
		return err
	}
	n := 0
	return s.Store.List(ctx, prefix, func(o storage.Object) error {
		if n++; n%listPage == 0 {
			if _, err := s.l.Wait(ctx); err != nil {
				return err
			}
		}
		return fn(o)
	})
}

// limitedSizedStore is a limitedStore over a SizedPutter.
type limitedSizedStore struct{ limitedStore }

func (s limitedSizedStore) PutSized(ctx context.Context, key string, r io.Reader, size int64) (storage.Object, error) {
	if _, err := s.l.Wait(ctx); err != nil {
		return storage.Object{}, err
	}
	return s.Store.(SizedPutter).PutSized(ctx, key, r, size)
}
