package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestHostileShapes feeds Load files that once took seconds and gigabytes
// to parse: each is refused with its line, quickly and in little memory.
func TestHostileShapes(t *testing.T) {
	deepFlow := "host: " + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "\n"
	var deepBlock strings.Builder
	for i := range 200 {
		deepBlock.WriteString(strings.Repeat(" ", i) + "a:\n")
	}
	dashes := "host:\n" + strings.Repeat("- ", 100) + "x\n"
	bomb := "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	cases := []struct{ name, yaml, want string }{
		{"100,000-deep flow", deepFlow, "mbackup.yaml:1: nested more than 32 levels deep"},
		{"200-deep block", deepBlock.String(), "mbackup.yaml:33: nested more than 32 levels deep"},
		{"a line of dashes", dashes, "mbackup.yaml:2: nested more than 32 levels deep"},
		{"alias bomb", bomb, "mbackup.yaml:1: YAML anchors and aliases"},
		{"2 MiB", base + "# " + strings.Repeat("x", 2<<20) + "\n", "mbackup.yaml: larger than 262144 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, _, err := loadYAML(t, t.TempDir(), c.yaml)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			t.Logf("refused in %v, %d MiB allocated", took, (after.TotalAlloc-before.TotalAlloc)>>20)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			// A bound on memory, not on time: the file itself is at most
			// a few MiB, and the check copies nothing.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("allocated %d MiB to refuse it", alloc>>20)
			}
		})
	}
}

// TestShapesAccepted: what real configurations hold is not taken for an
// anchor, an alias or deep nesting.
func TestShapesAccepted(t *testing.T) {
	dir := t.TempDir()
	yaml := base + `postgres:
  host: db # a comment with [[[[ and &anchor
  password: p&ss *word [x
  databases: [mastodon_production, "[x]"]
schedule:
  backup: "*/30 * * * *"
  mirror: '30 */12 * * *'
`
	if _, _, err := loadYAML(t, dir, yaml); err != nil {
		t.Fatal(err)
	}
	ex, err := os.ReadFile(filepath.Join("..", "..", "configs", "mbackup.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkShape("mbackup.example.yaml", ex); err != nil {
		t.Fatalf("the example configuration: %v", err)
	}
}

// TestLoadReadsAtMostTheLimit: a --config pointing at an endless file
// (a device, a pipe, a growing log) is refused after MaxFileSize bytes.
func TestLoadReadsAtMostTheLimit(t *testing.T) {
	_, _, err := Load("/dev/zero")
	if err == nil || !strings.Contains(err.Error(), "zero: larger than 262144 bytes") {
		t.Fatalf("err = %v", err)
	}
}
