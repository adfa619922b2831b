package s3

import (
	"net/http"
	"sync/atomic"
	"time"
)

// throttleTransport tells the function given to Store.OnThrottle of every
// 429 and 503 answer. It changes nothing in the request or the answer.
type throttleTransport struct {
	next http.RoundTripper
	fn   atomic.Pointer[func(sent time.Time, retryAfter string)]
}

// RoundTrip implements http.RoundTripper.
func (t *throttleTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	sent := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if fn := t.fn.Load(); fn != nil {
			(*fn)(sent, resp.Header.Get("Retry-After"))
		}
	}
	return resp, err
}

// OnThrottle makes fn hear every 429 Too Many Requests and 503 answer to
// the store's requests, retries included: when the request was sent and
// its Retry-After header ("" when absent). It lets a caller that limits
// its own calls (the media mirror) pause them all; the store itself still
// retries as before. fn is called from the requests' goroutines; nil stops
// the calls.
func (s *Store) OnThrottle(fn func(sent time.Time, retryAfter string)) {
	if fn == nil {
		s.throttle.fn.Store(nil)
		return
	}
	s.throttle.fn.Store(&fn)
}
