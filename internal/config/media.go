package config

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"mbackup/internal/mediasync"
)

// The media section's key selection and request limit.
//
// media.include (key prefixes; empty: every key) and media.exclude (key
// prefixes, such as cache/, Mastodon's copies of remote servers' media)
// choose the source keys mirrored. Keys outside the selection are neither
// copied nor deleted. media.max_requests_per_second caps the requests to
// the source bucket and, separately, the calls to the storage.

// DefaultMediaRequestsPerSecond is media.max_requests_per_second when
// unset: under DigitalOcean Spaces' 150 PUT/LIST per second per Space and
// B2's 500 requests per second.
const DefaultMediaRequestsPerSecond = mediasync.DefaultRequestsPerSecond

// RequestsPerSecond is the request limit with its default applied.
func (m *Media) RequestsPerSecond() int {
	if m.MaxRequestsPerSecond == 0 {
		return DefaultMediaRequestsPerSecond
	}
	return m.MaxRequestsPerSecond
}

// validateSelection checks include, exclude and max_requests_per_second.
func (m *Media) validateSelection(v *validator) {
	check := func(key string, ps []string) {
		for i, p := range ps {
			path := fmt.Sprintf("media.%s[%d]", key, i)
			switch {
			case p == "":
				v.add(path, "empty prefix: give a key prefix such as cache/")
			case strings.HasPrefix(p, "/"):
				v.add(path, "%q starts with a slash: bucket keys do not (cache/, not /cache/)", p)
			case !utf8.ValidString(p):
				v.add(path, "not valid UTF-8")
			}
		}
	}
	check("include", m.Include)
	check("exclude", m.Exclude)
	if m.MaxRequestsPerSecond < 0 {
		v.add("media.max_requests_per_second", "must be a positive number of requests per second, such as 150")
	}
}
