// Package retry runs an operation again after a failure that may pass,
// with exponential backoff and full jitter.
//
// Invariants:
//   - An error that repeating the request cannot change is returned after
//     one try: HTTP 400, 401, 403, 404 and the other 4xx (from minio-go's
//     ErrorResponse or a B2 answer), fs.ErrNotExist and fs.ErrPermission
//     (a store's 404 and 403), and an error marked with [Stop]. The
//     exceptions are answers that say "later": 408, 429, 499, S3's
//     RequestTimeout (a 400) and B2's expired_auth_token and bad_auth_token
//     (a 401 that blazer cures by authorizing again).
//   - Everything else is retried: 5xx, network errors, a body cut short
//     (io.ErrUnexpectedEOF), a store's stall or deadline, and any error this
//     package cannot place, as a wasted try costs a pause and a missed one a
//     failed object.
//   - The pause before try n+1 is drawn uniformly from [0, min(Max,
//     Base·2^(n-1))] ("full jitter"), so that workers failing together do not
//     come back together; a Retry-After the error carries raises it, up to
//     MaxRetryAfter.
//   - When ctx ends no further try starts and the pause is cut short; Do
//     then returns the last error of the operation (the caller reads ctx
//     for why it stopped).
package retry

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/Backblaze/blazer/base"
	"github.com/minio/minio-go/v7"
)

// Policy says how often and how patiently to try.
type Policy struct {
	// Attempts is the number of tries in all; less than 1 means 1.
	Attempts int
	// Base bounds the first pause; each next bound doubles.
	Base time.Duration
	// Max bounds every pause; 0 means no bound but the doubling.
	Max time.Duration

	// sleep and rand replace time and math/rand in tests.
	sleep func(context.Context, time.Duration) bool
	rand  func(time.Duration) time.Duration
}

// MaxRetryAfter bounds the pause a server can ask for with Retry-After.
const MaxRetryAfter = time.Minute

// Do calls op until it returns nil, an error that is not [Retryable], or
// p.Attempts errors, or until ctx ends. It returns op's last error, without
// the mark of [Stop].
func Do(ctx context.Context, p Policy, op func() error) error {
	sleep, rnd := p.sleep, p.rand
	if sleep == nil {
		sleep = sleepCtx
	}
	if rnd == nil {
		rnd = uniform
	}
	var err error
	for n := 1; ; n++ {
		if err = op(); err == nil {
			return nil
		}
		if !Retryable(err) || n >= p.Attempts || ctx.Err() != nil {
			break
		}
		if !sleep(ctx, p.pause(n, err, rnd)) {
			break
		}
	}
	if s, ok := err.(stop); ok {
		return s.err
	}
	return err
}

// pause is the wait after the n-th failed try.
func (p Policy) pause(n int, err error, rnd func(time.Duration) time.Duration) time.Duration {
	bound := p.Base
	for i := 1; i < n && bound > 0 && bound <= math.MaxInt64/2; i++ {
		if p.Max > 0 && bound >= p.Max {
			break
		}
		bound *= 2
	}
	if p.Max > 0 {
		bound = min(bound, p.Max)
	}
	var d time.Duration
	if bound > 0 {
		d = rnd(bound)
	}
	return max(d, min(retryAfter(err), MaxRetryAfter))
}

// uniform draws from [0, d].
func uniform(d time.Duration) time.Duration { return rand.N(d + 1) }

// sleepCtx waits d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool { return Sleep(ctx, d) == nil }

// Sleep waits d, or until ctx ends and returns its error.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop marks err as not to be retried; Do returns err itself.
func Stop(err error) error { return stop{err} }

type stop struct{ err error }

func (s stop) Error() string { return s.err.Error() }
func (s stop) Unwrap() error { return s.err }

// Retryable reports whether another try may succeed where err failed; see
// the package comment for the classification.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var s stop
	if errors.As(err, &s) {
		return false
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return false
	}
	if status, code, ok := httpStatus(err); ok {
		return retryableStatus(status, code)
	}
	return true
}

// retryableStatus classifies an HTTP answer, with its S3 or B2 error code.
func retryableStatus(status int, code string) bool {
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status == 499:
		return true
	case status == http.StatusBadRequest && code == "RequestTimeout":
		return true // S3's name for a 408
	case status == http.StatusUnauthorized && (code == "expired_auth_token" || code == "bad_auth_token"):
		return true // B2: authorizing again cures it
	case status >= 400 && status < 500:
		return false
	}
	return true
}

// httpStatus finds the HTTP status and error code of the first answer in
// err's chain: a minio-go ErrorResponse or a B2 error.
func httpStatus(err error) (status int, code string, ok bool) {
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.StatusCode != 0 {
		return er.StatusCode, er.Code, true
	}
	found := false
	walk(err, func(e error) bool {
		if s, c, _ := base.MsgCode(e); s != 0 {
			status, code, found = s, c, true
		}
		return found
	})
	return status, code, found
}

// retryAfter is the wait the error's server asked for: B2's Retry-After,
// or that of any error with a RetryAfter method.
func retryAfter(err error) time.Duration {
	var d time.Duration
	walk(err, func(e error) bool {
		if ra, ok := e.(interface{ RetryAfter() time.Duration }); ok {
			d = ra.RetryAfter()
		} else {
			d = base.Backoff(e)
		}
		return d > 0
	})
	return d
}

// walk calls f on err and the errors it wraps, depth first, until f
// returns true.
func walk(err error, f func(error) bool) bool {
	if err == nil {
		return false
	}
	if f(err) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return walk(u.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if walk(e, f) {
				return true
			}
		}
	}
	return false
}
