package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/Backblaze/blazer/base"
	"github.com/minio/minio-go/v7"
)

// b2Error returns the error blazer makes of a B2 answer: status, JSON
// error code and Retry-After seconds, from a server on loopback.
func b2Error(t *testing.T, status int, code string, retryAfter int) error {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"status":%d,"code":%q,"message":"test"}`, status, code)
	}))
	defer srv.Close()
	_, err := base.AuthorizeAccount(context.Background(), "id", "key", base.SetAPIBase(srv.URL))
	if err == nil {
		t.Fatalf("B2 answer %d %s: no error", status, code)
	}
	return err
}

func s3Error(status int, code string) error {
	return minio.ErrorResponse{StatusCode: status, Code: code, Message: "test"}
}

// TestRetryable is the classification table.
func TestRetryable(t *testing.T) {
	netErr := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, tc := range []struct {
		name  string
		err   error
		retry bool
	}{
		{"S3 400 InvalidArgument", s3Error(400, "InvalidArgument"), false},
		{"S3 400 RequestTimeout", s3Error(400, "RequestTimeout"), true},
		{"S3 401", s3Error(401, "Unauthorized"), false},
		{"S3 403 AccessDenied", s3Error(403, "AccessDenied"), false},
		{"S3 404 NoSuchKey", s3Error(404, "NoSuchKey"), false},
		{"S3 404 wrapped", fmt.Errorf("get: %w", s3Error(404, "NoSuchBucket")), false},
		{"S3 409", s3Error(409, "BucketNotEmpty"), false},
		{"S3 412", s3Error(412, "PreconditionFailed"), false},
		{"S3 408", s3Error(408, "RequestTimeout"), true},
		{"S3 429", s3Error(429, "SlowDown"), true},
		{"S3 499", s3Error(499, "ClientClosedRequest"), true},
		{"S3 500", s3Error(500, "InternalError"), true},
		{"S3 503 wrapped", fmt.Errorf("put: %w", s3Error(503, "SlowDown")), true},
		{"B2 400", b2Error(t, 400, "bad_request", 0), false},
		{"B2 401 unauthorized", b2Error(t, 401, "unauthorized", 0), false},
		{"B2 401 expired_auth_token", b2Error(t, 401, "expired_auth_token", 0), true},
		{"B2 401 bad_auth_token", fmt.Errorf("b2: get x: %w", b2Error(t, 401, "bad_auth_token", 0)), true},
		{"B2 403 cap exceeded", b2Error(t, 403, "download_cap_exceeded", 0), false},
		{"B2 404", b2Error(t, 404, "not_found", 0), false},
		{"B2 408", b2Error(t, 408, "request_timeout", 0), true},
		{"B2 429", b2Error(t, 429, "too_many_requests", 0), true},
		{"B2 500", b2Error(t, 500, "internal_error", 0), true},
		{"B2 503", b2Error(t, 503, "service_unavailable", 0), true},
		{"store not found", fmt.Errorf("get: %w", fs.ErrNotExist), false},
		{"local not found", &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, false},
		{"permission", &fs.PathError{Op: "open", Path: "/x", Err: os.ErrPermission}, false},
		{"connection reset", fmt.Errorf("get: %w", netErr), true},
		{"unexpected EOF", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), true},
		{"store deadline", fmt.Errorf("b2: put x: %w", context.DeadlineExceeded), true},
		{"unknown", errors.New("source sent 3 bytes, listed 4"), true},
		{"marked with Stop", Stop(s3Error(503, "SlowDown")), false},
		{"joined 403 and 503", errors.Join(fmt.Errorf("a: %w", s3Error(403, "AccessDenied")), s3Error(503, "SlowDown")), false},
		{"nil", nil, false},
	} {
		if got := Retryable(tc.err); got != tc.retry {
			t.Errorf("%s: Retryable(%v) = %v, want %v", tc.name, tc.err, got, tc.retry)
		}
	}
}

// record is a Policy whose pauses are recorded, not slept, and drawn at
// their upper bound.
func record(p Policy, pauses *[]time.Duration) Policy {
	p.sleep = func(ctx context.Context, d time.Duration) bool {
		*pauses = append(*pauses, d)
		return ctx.Err() == nil
	}
	p.rand = func(d time.Duration) time.Duration { return d }
	return p
}

func TestDoBackoff(t *testing.T) {
	var pauses []time.Duration
	tries := 0
	err := Do(context.Background(), record(Policy{Attempts: 6, Base: time.Second, Max: 5 * time.Second}, &pauses), func() error {
		tries++
		return s3Error(503, "SlowDown")
	})
	if err == nil || tries != 6 {
		t.Fatalf("err %v after %d tries; want 6 tries", err, tries)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	if fmt.Sprint(pauses) != fmt.Sprint(want) {
		t.Errorf("pause bounds %v, want %v", pauses, want)
	}
}

func TestDoSucceeds(t *testing.T) {
	var pauses []time.Duration
	tries := 0
	err := Do(context.Background(), record(Policy{Attempts: 5, Base: time.Millisecond}, &pauses), func() error {
		if tries++; tries < 3 {
			return io.ErrUnexpectedEOF
		}
		return nil
	})
	if err != nil || tries != 3 || len(pauses) != 2 {
		t.Fatalf("err %v after %d tries and %d pauses; want nil after 3 and 2", err, tries, len(pauses))
	}
}

func TestDoPermanent(t *testing.T) {
	var pauses []time.Duration
	tries := 0
	cause := s3Error(403, "AccessDenied")
	err := Do(context.Background(), record(Policy{Attempts: 5, Base: time.Millisecond}, &pauses), func() error {
		tries++
		return fmt.Errorf("get: %w", cause)
	})
	if tries != 1 || len(pauses) != 0 || !errors.As(err, new(minio.ErrorResponse)) {
		t.Fatalf("err %v after %d tries; want the 403 after 1", err, tries)
	}
}

func TestDoStop(t *testing.T) {
	raced := errors.New("raced")
	tries := 0
	err := Do(context.Background(), Policy{Attempts: 5, Base: time.Hour}, func() error {
		tries++
		return Stop(fmt.Errorf("x: %w", raced))
	})
	if tries != 1 || err.Error() != "x: raced" || !errors.Is(err, raced) {
		t.Fatalf("err %v after %d tries", err, tries)
	}
	if _, marked := err.(stop); marked {
		t.Error("Do returned the mark of Stop")
	}
}

// TestDoCancelled: a cancelled context ends the pause and no try follows.
func TestDoCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	tries := 0
	err := Do(ctx, Policy{Attempts: 5, Base: time.Hour}, func() error {
		tries++
		cancel()
		return s3Error(503, "SlowDown")
	})
	if tries != 1 || err == nil {
		t.Fatalf("err %v after %d tries; want the 503 after 1", err, tries)
	}
}

// TestRetryAfter: B2's Retry-After raises the pause, up to MaxRetryAfter.
func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		seconds int
		want    time.Duration
	}{{3, 3 * time.Second}, {3600, MaxRetryAfter}} {
		var pauses []time.Duration
		e := b2Error(t, 503, "service_unavailable", tc.seconds)
		Do(context.Background(), record(Policy{Attempts: 2, Base: time.Millisecond}, &pauses), func() error { return e })
		if len(pauses) != 1 || pauses[0] != tc.want {
			t.Errorf("Retry-After %d: pauses %v, want [%v]", tc.seconds, pauses, tc.want)
		}
	}
}

// TestJitter: the pauses are drawn from [0, bound], not all at the bound.
func TestJitter(t *testing.T) {
	p := Policy{Base: 8 * time.Second}
	seen := map[time.Duration]bool{}
	for range 100 {
		d := p.pause(3, errors.New("x"), uniform)
		if d < 0 || d > 32*time.Second {
			t.Fatalf("pause %v outside [0, 32s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("%d distinct pauses in 100; want them spread", len(seen))
	}
}
