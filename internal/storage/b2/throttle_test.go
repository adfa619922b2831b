package b2

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"mbackup/internal/b2test"
	"mbackup/internal/storage"
)

// TestOnThrottle: a 429 on an upload (made by blazer) and a 503 on
// b2_list_file_versions (one of the store's own calls) reach the function
// given to OnThrottle with their Retry-After; both calls then succeed on
// retry. After OnThrottle(nil) nothing is called.
func TestOnThrottle(t *testing.T) {
	srv, s := newStore(t, nil)
	var mu sync.Mutex
	var got []string
	start := time.Now()
	s.OnThrottle(func(sent time.Time, h string) {
		mu.Lock()
		defer mu.Unlock()
		if sent.Before(start) || sent.After(time.Now()) {
			t.Errorf("sent %v, not during the test", sent)
		}
		got = append(got, h)
	})
	ctx := context.Background()
	srv.Inject("b2_upload_file", b2test.Fault{Status: http.StatusTooManyRequests, RetryAfter: 1, Times: 1})
	mustPut(t, s, "a", []byte("abc"))
	srv.Inject("b2_list_file_versions", b2test.Fault{Status: http.StatusServiceUnavailable, RetryAfter: 2, Times: 1})
	n := 0
	if err := s.Versions(ctx, "", func(storage.Version) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("versions after a 503: %d, %v", n, err)
	}
	mu.Lock()
	if len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Errorf("heard Retry-After %q; want [1 2]", got)
	}
	got = nil
	mu.Unlock()
	s.OnThrottle(nil)
	srv.Inject("b2_upload_file", b2test.Fault{Status: http.StatusTooManyRequests, RetryAfter: 1, Times: 1})
	mustPut(t, s, "b", []byte("abc"))
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 0 {
		t.Errorf("heard %q after OnThrottle(nil)", got)
	}
}
