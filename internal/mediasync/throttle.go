package mediasync

import (
	"strings"
	"time"

	"mbackup/internal/storage"
)

// throttleReporter is a store whose service may answer 429 Too Many
// Requests or 503 Slow Down (the b2 and s3 stores). OnThrottle makes fn
// hear every such answer to any of the store's requests, its own retries
// included: when the request was sent, and the answer's Retry-After header
// ("" when absent). fn may be called from many goroutines at once; nil
// stops the calls.
type throttleReporter interface {
	OnThrottle(fn func(sent time.Time, retryAfter string))
}

// limits are the limiters of one run, for its log and its result.
type limits struct {
	source, store *Limiter
	st            storage.Store // the store as given, before limitStore
	sourceName    string        // "source" in a mirror, "target" in a restore
}

// watch sends the limiters' changes of rate to logf and, when the store
// reports its throttles, makes them pause the store's limiter too. The
// returned function undoes both.
func (m limits) watch(logf func(format string, a ...any)) func() {
	stopSource := m.source.watch(m.sourceName, logf)
	stopStore := m.store.watch("store", logf)
	tr, ok := m.st.(throttleReporter)
	if !ok || m.store == nil {
		return func() { stopSource(); stopStore() }
	}
	l := m.store
	tr.OnThrottle(func(sent time.Time, h string) { l.pauseAfter(sent, retryAfter(h)) })
	return func() {
		tr.OnThrottle(nil)
		stopSource()
		stopStore()
	}
}

// report adds the limiters' throttling to res.
func (m limits) report(res *Result) {
	res.SourceThrottling = m.source.report()
	res.StoreThrottling = m.store.report()
}

// Throttled says how the source (or a restore's target) and the store
// throttled the run, "" when they did not: "throttled 37 times by the
// source; rate lowered to 75/s".
func (r Result) Throttled(sourceName string) string {
	var s []string
	for _, d := range []string{r.SourceThrottling.Describe(sourceName), r.StoreThrottling.Describe("store")} {
		if d != "" {
			s = append(s, d)
		}
	}
	return strings.Join(s, "; ")
}
