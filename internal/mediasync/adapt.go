package mediasync

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Adaptation of a Limiter's rate (additive increase, multiplicative
// decrease): lowerAfter pauses in a row, with no calm stretch between them,
// halve the rate, never below the floor (a sixteenth of the limit, at
// least 1 per second); each calm stretch without a pause raises it by a
// sixteenth of the limit, never above the limit. A single pause (one burst
// of 429s) only pauses. Waiting requests keep their slots one by one at
// every rate: a change never releases them together.
const (
	lowerAfter     = 2
	defaultCalmFor = 5 * time.Second
	rateSteps      = 16
)

// adapt is the adaptive part of a Limiter, guarded by its mutex.
type adapt struct {
	limit, floor, step float64 // requests per second
	lowest             float64 // the lowest rate so far
	calmFor            time.Duration
	calmSince          time.Time // the end of the last pause, or the last raise
	strikes            int       // pauses since the last change or calm stretch
	throttles          int64     // 429 and 503 answers seen

	name string                        // "source", "store" or "target" in the log
	logf func(format string, a ...any) // set by watch; nil logs nothing
}

func newAdapt(limit float64, now time.Time) adapt {
	return adapt{limit: limit, floor: max(1, limit/rateSteps), step: max(1, limit/rateSteps),
		lowest: limit, calmFor: defaultCalmFor, calmSince: now}
}

// lower counts a pause that began and halves the rate on the lowerAfter-th
// in a row. l.mu is held; it returns what to log ("" for nothing).
func (l *Limiter) lower() string {
	a := &l.a
	a.calmSince = l.until
	if a.strikes++; a.strikes < lowerAfter {
		return ""
	}
	a.strikes = 0
	r := max(a.floor, l.rate/2)
	if r >= l.rate {
		return ""
	}
	l.setRate(r)
	a.lowest = min(a.lowest, r)
	return fmt.Sprintf("%s: throttled %d times, rate lowered to %s/s (limit %s/s)", a.name, a.throttles, perSecond(r), perSecond(a.limit))
}

// raise ends a calm stretch that has lasted calmFor: the strikes are
// forgotten and the rate goes up a step. l.mu is held; it returns what to
// log.
func (l *Limiter) raise(now time.Time) string {
	a := &l.a
	if now.Sub(a.calmSince) < a.calmFor {
		return ""
	}
	a.calmSince = now
	a.strikes = 0
	if l.rate >= a.limit {
		return ""
	}
	l.setRate(min(a.limit, l.rate+a.step))
	return fmt.Sprintf("%s: no throttle for %v, rate raised to %s/s (limit %s/s)", a.name, a.calmFor, perSecond(l.rate), perSecond(a.limit))
}

// log writes msg, with the Limiter's mutex held: a change of rate is rare,
// and the lines keep the order of the changes.
func (a *adapt) log(msg string) {
	if msg != "" && a.logf != nil {
		a.logf("%s", msg)
	}
}

// perSecond prints a rate to a tenth, without needless decimals: 75,
// 12.5, 9.4.
func perSecond(r float64) string {
	return strconv.FormatFloat(math.Round(r*10)/10, 'f', -1, 64)
}

// watch names the side l limits in its log lines and sends them to logf;
// the returned function stops the logging.
func (l *Limiter) watch(name string, logf func(format string, a ...any)) func() {
	if l == nil {
		return func() {}
	}
	l.mu.Lock()
	l.a.name, l.a.logf = name, logf
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		l.a.logf = nil
		l.mu.Unlock()
	}
}

// Throttling is what one side's limit went through in a run.
type Throttling struct {
	Limit     float64 // the configured requests per second; 0: no limit
	Throttles int64   // 429 and 503 answers
	Pauses    int64   // pauses of the whole run they caused
	Lowest    float64 // the lowest rate reached (Limit when never lowered)
}

// report returns the throttling so far.
func (l *Limiter) report() Throttling {
	if l == nil {
		return Throttling{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return Throttling{Limit: l.a.limit, Throttles: l.a.throttles, Pauses: l.pauses, Lowest: l.a.lowest}
}

// Describe says how side throttled the run, "" when it did not:
// "throttled 37 times by the source; rate lowered to 75/s".
func (t Throttling) Describe(side string) string {
	if t.Throttles == 0 {
		return ""
	}
	s := fmt.Sprintf("throttled %d times by the %s", t.Throttles, side)
	if t.Lowest < t.Limit {
		s += fmt.Sprintf("; rate lowered to %s/s", perSecond(t.Lowest))
	}
	return s
}
