package dump

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
)

// TestRunRedactsPasswordWithAt: a URL password holding an unescaped "@" is
// removed whole, up to the last "@" of the URL; cutting it at its own "@"
// left "ss" of "p@ss" in the error.
func TestRunRedactsPasswordWithAt(t *testing.T) {
	script := "echo 'could not connect to redis://default:p@ssw0rd@redis:6379/0' >&2; exit 1"
	err := Run(context.Background(), exec.Command("sh", "-c", script), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "redis://default:[redacted]@redis:6379/0") {
		t.Fatalf("error %v; want the whole password redacted", err)
	}
	if strings.Contains(err.Error(), "ssw0rd") {
		t.Errorf("part of the password in %q", err)
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"redis://u:p@ss@host", "redis://u:[redacted]@host"},
		{"password hunter2 and hunter22", "password [redacted] and [redacted]"},
	} {
		if got := Redact(tc.in, "hunter2", "hunter22"); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
