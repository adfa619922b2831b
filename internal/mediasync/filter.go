package mediasync

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// filter decides which keys (relative to the source prefix) the mirror
// covers: those under one of Options.Include (all when it is empty) and
// under none of Options.Exclude. Keys outside it are neither copied nor
// deleted, and their index records are kept.
type filter struct {
	include []string // sorted, none under another: listed one after the other
	exclude []string
}

func newFilter(include, exclude []string) (filter, error) {
	for _, p := range slices.Concat(include, exclude) {
		if p == "" || strings.HasPrefix(p, "/") || !utf8.ValidString(p) {
			return filter{}, fmt.Errorf("mediasync: include or exclude prefix %q: want a non-empty key prefix such as cache/", p)
		}
	}
	return filter{include: outermost(include), exclude: outermost(exclude)}, nil
}

// outermost sorts prefixes and drops those under another one.
func outermost(ps []string) []string {
	ps = slices.Clone(ps)
	slices.Sort(ps)
	var out []string
	for _, p := range ps {
		if len(out) == 0 || !strings.HasPrefix(p, out[len(out)-1]) {
			out = append(out, p)
		}
	}
	return out
}

// covers reports whether the mirror covers key.
func (f filter) covers(key string) bool {
	return f.excluded(key) == "" && (len(f.include) == 0 || slices.ContainsFunc(f.include, func(p string) bool { return strings.HasPrefix(key, p) }))
}

// excluded returns the exclude prefix key is under, or "".
func (f filter) excluded(key string) string {
	for _, p := range f.exclude {
		if strings.HasPrefix(key, p) {
			return p
		}
	}
	return ""
}

// ranges are the key prefixes the source listing walks, in order: the
// include prefixes, or the whole bucket.
func (f filter) ranges() []string {
	if len(f.include) == 0 {
		return []string{""}
	}
	return f.include
}

// pastPrefix is a StartAfter key beyond every key under p that S3 can
// hold: p followed by the greatest code point, four times (S3 keys are at
// most 1024 bytes of UTF-8, compared byte by byte). A key beyond it under
// p (which would need to start with that code point four times) is still
// listed and filtered out one by one.
func pastPrefix(p string) string {
	return p + strings.Repeat(string(utf8.MaxRune), 4)
}
