package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// posError is a decoding error tied to the token of the offending node;
// Load turns it into a [Problem] with the line and YAML path.
type posError struct {
	tok *token.Token
	msg string
}

func (e *posError) Error() string { return e.msg }

func nodeError(node ast.Node, format string, args ...any) error {
	return &posError{tok: node.GetToken(), msg: fmt.Sprintf(format, args...)}
}

// Duration is a time.Duration written as a Go duration ("90s", "2m",
// "36h") optionally preceded by a number of years, weeks and days ("14d",
// "2w", "1y", "1d12h"): a year is 365 days, a week 7.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d as ParseDuration accepts it, with days when whole:
// "14d", "2m0s".
func (d Duration) String() string {
	if t := time.Duration(d); t != 0 && t%day == 0 {
		return strconv.FormatInt(int64(t/day), 10) + "d"
	}
	return time.Duration(d).String()
}

const (
	day = 24 * time.Hour
	// maxDays bounds the days of a duration, far from time.Duration's
	// limit (about 106751 days).
	maxDays = 1 << 16
)

// dayUnits are the units of a whole number of days.
var dayUnits = map[byte]int64{'y': 365, 'w': 7, 'd': 1}

// ParseDuration parses "14d", "2w", "1y", "1d12h" or any
// time.ParseDuration string. Negative durations are refused.
func ParseDuration(s string) (Duration, error) {
	bad := fmt.Errorf("bad duration %q (want a number with a unit, like 90s, 2m, 36h or 14d)", s)
	days, rest, ok := parseDays(s)
	if !ok {
		return 0, bad
	}
	if rest == "" && s != "" {
		return Duration(time.Duration(days) * day), nil
	}
	t, err := time.ParseDuration(rest)
	if err != nil || t < 0 || (days > 0 && strings.HasPrefix(rest, "+")) {
		return 0, bad
	}
	return Duration(time.Duration(days)*day + t), nil
}

// parseDays reads the leading groups of digits with a unit of whole days
// ("1y2w3d") and returns their days and the rest of s; ok is false when
// a group is malformed or the days exceed maxDays.
func parseDays(s string) (days int64, rest string, ok bool) {
	rest = s
	for {
		i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if i < 0 {
			return days, rest, true
		}
		n, isDays := dayUnits[rest[i]]
		if !isDays {
			return days, rest, true
		}
		v, err := strconv.ParseInt(rest[:i], 10, 32)
		if err != nil || v > maxDays {
			return 0, "", false
		}
		days += v * n
		if days > maxDays {
			return 0, "", false
		}
		rest = rest[i+1:]
	}
}

// UnmarshalYAML decodes a duration string.
func (d *Duration) UnmarshalYAML(node ast.Node) error {
	s, ok := scalarText(node)
	if !ok {
		return nodeError(node, "must be a duration like 2m or 14d")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return nodeError(node, "%v", err)
	}
	*d = v
	return nil
}

// Size is a number of bytes, written as an integer or with a unit: B, kB,
// MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
type Size int64

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// ParseSize parses "16MiB", "100MB", "5000000" or "1.5GiB".
func ParseSize(s string) (Size, error) {
	bad := fmt.Errorf("bad size %q (want bytes, or a number with B, kB, MB, GB, KiB, MiB or GiB)", s)
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	mult, ok := sizeUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok || i == 0 {
		return 0, bad
	}
	n, err := strconv.ParseFloat(t[:i], 64)
	if err != nil || n*float64(mult) >= math.MaxInt64 {
		return 0, bad
	}
	return Size(n * float64(mult)), nil
}

// String formats s in the largest binary unit that divides it.
func (s Size) String() string {
	for _, u := range []struct {
		name string
		n    int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s != 0 && int64(s)%u.n == 0 {
			return strconv.FormatInt(int64(s)/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// UnmarshalYAML decodes an integer or a size string.
func (s *Size) UnmarshalYAML(node ast.Node) error {
	t, ok := scalarText(node)
	if !ok {
		return nodeError(node, "must be a size like 16MiB")
	}
	v, err := ParseSize(t)
	if err != nil {
		return nodeError(node, "%v", err)
	}
	*s = v
	return nil
}

// DeleteLimit caps how many objects one mirror run may delete: either a
// count or a percentage of the objects in the mirror.
type DeleteLimit struct {
	// Count is the cap when Percent is zero.
	Count int64
	// Percent, when non-zero, is the cap as a share (0 < Percent <= 100) of
	// the objects in the mirror.
	Percent float64
}

// ParseDeleteLimit parses "5%", "0.5%" or "1000".
func ParseDeleteLimit(s string) (DeleteLimit, error) {
	bad := errors.New("must be a count like 1000 or a percentage like 5%")
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || !(v > 0 && v <= 100) {
			return DeleteLimit{}, bad
		}
		return DeleteLimit{Percent: v}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return DeleteLimit{}, bad
	}
	return DeleteLimit{Count: n}, nil
}

// Max returns how many of total objects may be deleted in one run.
func (l DeleteLimit) Max(total int64) int64 {
	if l.Percent == 0 {
		return l.Count
	}
	return int64(math.Floor(float64(total) * l.Percent / 100))
}

// String formats l as ParseDeleteLimit accepts it.
func (l DeleteLimit) String() string {
	if l.Percent != 0 {
		return strconv.FormatFloat(l.Percent, 'f', -1, 64) + "%"
	}
	return strconv.FormatInt(l.Count, 10)
}

// UnmarshalYAML decodes a count or a percentage.
func (l *DeleteLimit) UnmarshalYAML(node ast.Node) error {
	s, ok := scalarText(node)
	if !ok {
		return nodeError(node, "must be a count like 1000 or a percentage like 5%%")
	}
	v, err := ParseDeleteLimit(strings.TrimSpace(s))
	if err != nil {
		return nodeError(node, "%v", err)
	}
	*l = v
	return nil
}
