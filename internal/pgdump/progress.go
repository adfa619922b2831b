package pgdump

import (
	"strings"

	"mbackup/internal/engine"
	"mbackup/internal/human"
)

// tocProgress follows pg_restore --verbose: the entries of the table of
// contents toc (by id) done, and what it is at.
type tocProgress struct {
	toc    map[string]bool
	seen   map[string]bool
	report func(engine.Progress)
	what   string
	last   engine.Progress // the last reported: a line that changes nothing is not
}

// verbosePrefixes start the lines pg_restore --verbose writes as it goes:
// progress, kept out of the error's stderr tail. Every other line (an
// error, a warning, "from TOC entry ...") is kept.
var verbosePrefixes = []string{"processing ", "finished ", "launching ", "creating ", "executing ", "dropping ",
	"connecting ", "entering ", "restoring large object", "restored ", "setting owner and privileges "}

// line takes one stderr line of pg_restore and reports whether it was a
// progress line.
func (p *tocProgress) line(line string) bool {
	rest, ok := strings.CutPrefix(line, "pg_restore: ")
	if !ok || !hasAnyPrefix(rest, verbosePrefixes) {
		return false
	}
	switch {
	case strings.HasPrefix(rest, "processing data for table "):
		p.what = "table " + unquote(strings.TrimPrefix(rest, "processing data for table "))
	case strings.HasPrefix(rest, "creating "):
		kind, name, _ := strings.Cut(strings.TrimPrefix(rest, "creating "), " ")
		p.what = strings.ToLower(kind) + " " + unquote(name)
	}
	if item, ok := cutItem(rest); ok && p.toc[item] {
		if p.seen == nil {
			p.seen = map[string]bool{}
		}
		p.seen[item] = true
	}
	now := engine.Progress{Done: int64(len(p.seen)), Total: int64(len(p.toc)), Unit: engine.Items, What: human.Printable(p.what, maxWhat)}
	if now != p.last {
		p.last = now
		p.report(now)
	}
	return true
}

// cutItem returns the id of "processing item 3392 ..." and "finished
// item 3392 ...".
func cutItem(s string) (string, bool) {
	for _, prefix := range []string{"processing item ", "finished item "} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			id, _, _ := strings.Cut(rest, " ")
			return id, id != ""
		}
	}
	return "", false
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// unquote drops the double quotes pg_restore puts around a name.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// maxWhat bounds what a progress line shows of a name.
const maxWhat = 120
