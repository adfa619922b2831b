package task

import (
	"errors"
	"slices"
	"testing"

	"mbackup/internal/metrics"
	"mbackup/internal/snapshot"
)

// TestResult: a run without an error is a success, one that committed a
// partial snapshot is partial, any other error a failure; every result
// is one the metrics accept.
func TestResult(t *testing.T) {
	failed := errors.New("boom")
	for _, c := range []struct {
		name string
		o    Outcome
		want string
	}{
		{"no error", Outcome{Task: Verify}, metrics.Success},
		{"a complete snapshot", Outcome{Task: Backup, Manifest: &snapshot.Manifest{Status: snapshot.StatusComplete}}, metrics.Success},
		{"a partial snapshot", Outcome{Task: Backup, Manifest: &snapshot.Manifest{Status: snapshot.StatusPartial}, Err: failed}, metrics.Partial},
		{"an error after a complete snapshot", Outcome{Task: Backup, Manifest: &snapshot.Manifest{Status: snapshot.StatusComplete}, Err: failed}, metrics.Failure},
		{"an error without a snapshot", Outcome{Task: Prune, Err: failed}, metrics.Failure},
	} {
		got := c.o.Result()
		if got != c.want || !slices.Contains(metrics.Results, got) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		metrics.New(Tasks...).RunFinished(c.o.Task, got, c.o.Started, c.o.Started) // panics on a result it does not know
	}
}
