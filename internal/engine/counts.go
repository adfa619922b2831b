package engine

import (
	"fmt"

	"mbackup/internal/dump"
)

// CompareCounts describes every difference between the row counts of a
// dump (want) and of its restore (got): a table with other counts, or
// missing from either side. It returns nil when they agree.
func CompareCounts(want, got []dump.TableCount) []string {
	key := func(t dump.TableCount) string { return t.Schema + "." + t.Table }
	rows := make(map[string]int64, len(got))
	for _, t := range got {
		rows[key(t)] = t.Rows
	}
	var diffs []string
	for _, t := range want {
		n, ok := rows[key(t)]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s: missing (dumped with %d rows)", key(t), t.Rows))
		case n != t.Rows:
			diffs = append(diffs, fmt.Sprintf("%s: %d rows, dumped with %d", key(t), n, t.Rows))
		}
		delete(rows, key(t))
	}
	for _, t := range got {
		if _, extra := rows[key(t)]; extra {
			diffs = append(diffs, fmt.Sprintf("%s: %d rows, not in the dump", key(t), t.Rows))
		}
	}
	return diffs
}
