package storage

import (
	"net/http"
	"sync/atomic"
	"time"
)

// ThrottleTransport tells the function set with Notify of every 429 Too
// Many Requests and 503 answer that passes through it, retries included:
// when the request was sent and its Retry-After header ("" when absent).
// It changes nothing in the request or the answer. The b2 and s3 stores
// put one under their HTTP clients for their OnThrottle.
type ThrottleTransport struct {
	Next http.RoundTripper
	fn   atomic.Pointer[func(sent time.Time, retryAfter string)]
}

// RoundTrip implements http.RoundTripper.
func (t *ThrottleTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	sent := time.Now()
	resp, err := t.Next.RoundTrip(req)
	if err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if fn := t.fn.Load(); fn != nil {
			(*fn)(sent, resp.Header.Get("Retry-After"))
		}
	}
	return resp, err
}

// Notify makes fn hear the throttles from now on; nil stops the calls. fn
// is called from the requests' goroutines.
func (t *ThrottleTransport) Notify(fn func(sent time.Time, retryAfter string)) {
	if fn == nil {
		t.fn.Store(nil)
		return
	}
	t.fn.Store(&fn)
}
