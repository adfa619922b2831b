package s3

import (
	"time"
)

// OnThrottle makes fn hear every 429 Too Many Requests and 503 answer to
// the store's requests, retries included: when the request was sent and
// its Retry-After header ("" when absent). It lets a caller that limits
// its own calls (the media mirror) pause them all; the store itself still
// retries as before. fn is called from the requests' goroutines; nil stops
// the calls.
func (s *Store) OnThrottle(fn func(sent time.Time, retryAfter string)) {
	s.throttle.Notify(fn)
}
