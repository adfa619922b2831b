package main

import (
	"strings"
	"testing"
)

func TestVersionCommit(t *testing.T) {
	code, out, _ := mbackup(t, "version")
	if code != exitOK || !strings.HasPrefix(out, "mbackup devel (go") || !strings.Contains(out, "\ncommit ") {
		t.Fatalf("version exited %d:\n%s", code, out)
	}

	defer func(v, c, d string) { version, commit, date = v, c, d }(version, commit, date)
	version, commit, date = "v1.2.3", "0123456789abcdef0123456789abcdef01234567", "2026-11-23T12:00:00Z"
	code, out, _ = mbackup(t, "version")
	want := "mbackup v1.2.3 (go"
	if code != exitOK || !strings.HasPrefix(out, want) ||
		!strings.Contains(out, "\ncommit 0123456789abcdef0123456789abcdef01234567, built 2026-11-23T12:00:00Z\n") {
		t.Fatalf("version with -ldflags values exited %d:\n%s", code, out)
	}
}
