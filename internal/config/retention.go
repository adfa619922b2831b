package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// dayPaths are the durations that count whole days: a unit below a day
// there is refused, because "6m" reads as six months to a restic user and
// as six minutes to time.ParseDuration.
var dayPaths = []string{"retention.keep_within"}

// minutesOnly matches a number of minutes and nothing else: "6m".
var minutesOnly = regexp.MustCompile(`^([0-9]+)m$`)

// dayDurations refuses a unit below a day in the durations of dayPaths.
func (r *resolver) dayDurations(body ast.Node) {
	walk(body, "", func(n ast.Node, path string, isKey bool) {
		if isKey || !isDayPath(path) {
			return
		}
		if text, ok := scalarText(n); ok {
			if msg := belowADay(text); msg != "" {
				r.problem(path, "%s", msg)
			}
		}
	})
}

func isDayPath(path string) bool {
	for _, p := range dayPaths {
		if p == path {
			return true
		}
	}
	return false
}

// belowADay says why text, a duration that must count days, is refused,
// or "" when it is whole years, weeks and days (or "0").
func belowADay(text string) string {
	_, rest, ok := parseDays(text)
	d, err := ParseDuration(text)
	if !ok || err != nil || rest == "" || d == 0 {
		return "" // fine, or a bad duration the decoder reported
	}
	const units = "retention counts days: write d, w (7 days) or y (365 days)"
	if m := minutesOnly.FindStringSubmatch(text); m != nil {
		n, _ := strconv.Atoi(m[1])
		return fmt.Sprintf("%s is %s here, not %s: %s, such as %dd", text, plural(n, "minute"), plural(n, "month"), units, n*30)
	}
	days := max(1, int64((d.Std()+day-1)/day))
	return fmt.Sprintf("%s has a unit below a day (h, m or s): %s, such as %dd", text, units, days)
}

// Describe says in words which snapshots the policy keeps, as prune
// applies it: "keep every snapshot younger than 14 days, and the newest 2
// complete ones".
func (r Retention) Describe() string {
	var parts []string
	if r.KeepWithin > 0 {
		parts = append(parts, "every snapshot younger than "+spellAge(r.KeepWithin.Std()))
	}
	switch {
	case r.KeepLast == 1 && len(parts) == 0:
		parts = append(parts, "the newest complete snapshot")
	case r.KeepLast == 1:
		parts = append(parts, "the newest complete one")
	case len(parts) == 0:
		parts = append(parts, fmt.Sprintf("the newest %d complete snapshots", r.KeepLast))
	default:
		parts = append(parts, fmt.Sprintf("the newest %d complete ones", r.KeepLast))
	}
	var each []string
	for _, c := range []struct {
		n    int
		unit string
	}{{r.KeepDaily, "day"}, {r.KeepWeekly, "week"}, {r.KeepMonthly, "month"}} {
		if c.n > 0 {
			each = append(each, plural(c.n, c.unit))
		}
	}
	if len(each) > 0 {
		parts = append(parts, "the newest complete snapshot of each of the last "+strings.Join(each, ", "))
	}
	return "keep " + strings.Join(parts, ", and ")
}

// spellAge writes d in days when whole ("14 days"), else as a Go duration.
func spellAge(d time.Duration) string {
	if d%day == 0 {
		return plural(int(d/day), "day")
	}
	return d.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
