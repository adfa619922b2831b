package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRestoreBar: the bar says where a phase stands, redrawn in place and
// cut to the width (80 columns when unknown); a log line clears it first; nothing a dump names (a table) reaches the
// terminal as a control sequence.
func TestRestoreBar(t *testing.T) {
	var out bytes.Buffer
	b := newRestoreBar(&out)
	b.show("postgres/mastodon_production", "apply", 120, 480, "items", "table public.statuses", 3*time.Second)
	b.show("postgres/mastodon_production", "fetch", 50<<20, 200<<20, "bytes", "", 2*time.Second)
	fmt.Fprintln(b, "postgres/mastodon_production: restored in 4s")
	b.close()
	b.close() // nothing drawn: nothing to clear
	want := "\r\033[Kpostgres/mastodon_production: apply 120 of 480 (25%) items, table public.statu…" +
		"\r\033[Kpostgres/mastodon_production: fetch 50.0 MiB of 200.0 MiB (25%), 25.0 MiB/s, 2s" +
		"\r\033[Kpostgres/mastodon_production: restored in 4s\n"
	if out.String() != want {
		t.Errorf("drew %q\nwant %q", out.String(), want)
	}

	for _, tc := range []struct{ what, want string }{
		{"table public.\x1b]0;owned\x07evil", "table public.?]0;owned?evil"},
		{"table \u202eright-to-left", "table ?right-to-left"},
		{"table " + strings.Repeat("x", 100), "table " + strings.Repeat("x", maxWhat-7) + "…"},
		{"table \xff", "table ?"},
	} {
		line := barLine("postgres/x", "apply", 1, 0, "items", tc.what, time.Second)
		if !strings.Contains(line, ", "+tc.want+", 1s") || strings.ContainsAny(line, "\x1b\x07\u202e") {
			t.Errorf("barLine with %q = %q, want it to show %q", tc.what, line, tc.want)
		}
	}
	if line := barLine("redis/main", "apply", 10, 5, "bytes", "", 0); !strings.Contains(line, "(100%)") || strings.Contains(line, "/s") {
		t.Errorf("done beyond total, no time yet: %q", line)
	}
}
