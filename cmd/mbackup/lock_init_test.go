package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mbackup/internal/config"
)

// TestInitProposesLock: init writes storage.lock commented, with its
// trade-off; uncommented as proposed (with the bucket and key filled in)
// the drafted configuration loads with that lock, so the proposed days
// pass the check against the drafted retention and schedule, and a day
// less is refused, saying why.
func TestInitProposesLock(t *testing.T) {
	cfg, _ := initRun(t, "DB_PASS=one\nREDIS_PASSWORD=two\n")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, w := range []string{
		"compliance cannot be shortened by anyone, Backblaze\n  # included; governance can be, by a key with bypassGovernance.",
		"b2 bucket create --file-lock-enabled",
		"\n  # lock: {mode: governance, days: 15}\n",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("the draft lacks %q:\n%s", w, text)
		}
	}
	dir := filepath.Dir(cfg)
	if err := os.WriteFile(filepath.Join(dir, "b2.key"), []byte("K005notarealkey\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	recipient := "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	filled := strings.NewReplacer(`bucket: ""`, "bucket: backups", `key_id: ""`, `key_id: "0051234"`,
		"recipients: []", "recipients: ["+recipient+"]").Replace(text)
	load := func(lockLine string) (*config.Config, error) {
		t.Helper()
		y := regexp.MustCompile(`\n  # lock: \{[^}]*\}\n`).ReplaceAllString(filled, "\n  "+lockLine+"\n")
		if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		c, _, err := config.Load(cfg)
		return c, err
	}
	c, err := load("lock: {mode: governance, days: 15}")
	if err != nil {
		t.Fatalf("the proposed lock does not load: %v", err)
	}
	if l := c.Storage.Lock; l == nil || *l != (config.Lock{Mode: config.LockGovernance, Days: 15}) {
		t.Errorf("lock %+v", l)
	}
	if _, err := load("lock: {mode: governance, days: 14}"); err == nil ||
		!strings.Contains(err.Error(), "storage.lock.days: 14 days is shorter than retention.keep_within (14 days) plus one backup interval (12h") {
		t.Errorf("a day less: %v", err)
	}
}
