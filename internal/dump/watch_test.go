package dump

import (
	"context"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestRunWatch: the lines watch takes stay out of the error's tail, the
// others (and an unfinished last line) are in it; a line too long to hold
// goes to the tail unwatched.
func TestRunWatch(t *testing.T) {
	var seen []string
	watch := func(line string) bool {
		seen = append(seen, line)
		return strings.HasPrefix(line, "progress ")
	}
	script := `printf 'progress 1\nprogress 2\nERROR: the failure hunter2\npro' >&2; printf 'gress 3\nlast words' >&2; exit 1`
	err := RunWatch(context.Background(), exec.Command("sh", "-c", script), io.Discard, watch, "hunter2")
	want := []string{"progress 1", "progress 2", "ERROR: the failure hunter2", "progress 3", "last words"}
	if !slices.Equal(seen, want) {
		t.Errorf("watched %q; want %q", seen, want)
	}
	if err == nil || !strings.HasSuffix(err.Error(), "exit status 1: ERROR: the failure [redacted]\nlast words") {
		t.Fatalf("RunWatch: %v", err)
	}

	seen = nil
	err = RunWatch(context.Background(), exec.Command("sh", "-c", "head -c 5000 /dev/zero | tr '\\0' p >&2; exit 3"), io.Discard, watch)
	if err == nil || !strings.Contains(err.Error(), "exit status 3: ...ppp") || len(seen) != 0 {
		t.Fatalf("RunWatch of a 5000-byte line: %v (watched %d lines)", err, len(seen))
	}
}
