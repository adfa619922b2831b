package config

import (
	"strings"
	"testing"
	"time"
)

// b2Base is a valid b2 configuration of nine lines; cases append from
// line 10.
const b2Base = `schedule:
  backup: "0 */12 * * *"
encryption:
  recipients: [` + testRecipient + `]
storage:
  type: b2
  bucket: backups
  key_id: "0051234"
  application_key: K005secret
`

// s3Base is b2Base on an s3 store, of ten lines.
const s3Base = `schedule:
  backup: "0 */12 * * *"
encryption:
  recipients: [` + testRecipient + `]
storage:
  type: s3
  endpoint: s3.example.com
  bucket: backups
  access_key_id: k
  secret_access_key: s
`

func TestBackupInterval(t *testing.T) {
	for expr, want := range map[string]time.Duration{
		"0 */12 * * *":    12 * time.Hour,
		"15 3 * * *":      24 * time.Hour,
		"0 3,9 * * *":     18 * time.Hour,
		"0 3 * * 1-5":     72 * time.Hour, // Friday to Monday
		"0 3 * * 0":       7 * 24 * time.Hour,
		"*/5 * * * *":     5 * time.Minute,
		"@every 6h":       6 * time.Hour,
		"@daily":          24 * time.Hour,
		"0 0 1 * *":       28 * 24 * time.Hour, // February 2026, the month after the fixed Monday
		"30 2,14 * * 1-6": 36 * time.Hour,      // Saturday 14:30 to Monday 02:30
	} {
		got, err := BackupInterval(expr)
		if err != nil || got != want {
			t.Errorf("BackupInterval(%q) = %v, %v; want %v", expr, got, err, want)
		}
	}
	if _, err := BackupInterval("61 * * * *"); err == nil {
		t.Error("a bad schedule gave no error")
	}
}

func TestLockLoads(t *testing.T) {
	cfg, _, err := loadYAML(t, t.TempDir(), b2Base+"  lock: {mode: governance, days: 15}\n")
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Storage.Lock; l == nil || *l != (Lock{Mode: LockGovernance, Days: 15}) {
		t.Errorf("lock %+v", l)
	}
	cfg, _, err = loadYAML(t, t.TempDir(), b2Base)
	if err != nil || cfg.Storage.Lock != nil {
		t.Errorf("no lock written: %+v, %v", cfg.Storage.Lock, err)
	}
}

// TestLockRefused: each refusal of storage.lock, with its message.
func TestLockRefused(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"s3 days", s3Base + "  lock: {mode: governance, days: 14}\n",
			`storage.lock.days: 14 days is shorter than retention.keep_within (14 days) plus one backup interval (12h, ` +
				`the longest gap between two runs of schedule.backup "0 */12 * * *"): an object must stay locked as long as retention keeps it; set days to at least 15`},
		{"s3 mode", s3Base + "  lock: {mode: legal-hold, days: 30}\n", "storage.lock.mode: must be governance or compliance"},
		{"local", "storage:\n  type: local\n  path: /backups\n  lock: {mode: compliance, days: 30}\nencryption:\n  recipients: [" + testRecipient + "]\n",
			"mbackup.yaml:4: storage.lock: Object Lock needs a b2 or s3 store (storage.type is local): remove storage.lock"},
		{"mode", b2Base + "  lock: {mode: legal-hold, days: 30}\n", "storage.lock.mode: must be governance or compliance"},
		{"no mode", b2Base + "  lock: {days: 30}\n", "storage.lock.mode: must be governance or compliance"},
		{"no days", b2Base + "  lock: {mode: governance}\n", "storage.lock.days: must be between 1 and 3000 (B2's limit)"},
		{"negative days", b2Base + "  lock: {mode: governance, days: -3}\n", "storage.lock.days: must be between 1 and 3000 (B2's limit)"},
		{"too many days", b2Base + "  lock: {mode: governance, days: 3001}\n", "storage.lock.days: must be between 1 and 3000 (B2's limit)"},
		{"unknown key", b2Base + "  lock: {mode: governance, days: 30, hours: 2}\n", "storage.lock.hours: unknown key"},
		{"default retention", b2Base + "  lock: {mode: governance, days: 14}\n",
			`storage.lock.days: 14 days is shorter than retention.keep_within (14 days) plus one backup interval (12h, ` +
				`the longest gap between two runs of schedule.backup "0 */12 * * *"): an object must stay locked as long as retention keeps it; set days to at least 15`},
		{"weekday schedule", strings.Replace(b2Base, "0 */12 * * *", "0 3 * * 1-5", 1) + "  lock: {mode: compliance, days: 16}\n" +
			"retention:\n  keep_within: 2w\n",
			`storage.lock.days: 16 days is shorter than retention.keep_within (14 days) plus one backup interval (3 days, ` +
				`the longest gap between two runs of schedule.backup "0 3 * * 1-5"): an object must stay locked as long as retention keeps it; set days to at least 17`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := loadYAML(t, t.TempDir(), c.yaml)
			if err == nil || !containsLine(err.Error(), c.want) {
				t.Errorf("err = %v\nwant a line ending %s", err, c.want)
			}
		})
	}
}

// TestLockLongEnough: the shortest lock the check accepts is accepted,
// on the weekday schedule too.
func TestLockLongEnough(t *testing.T) {
	for _, y := range []string{
		b2Base + "  lock: {mode: governance, days: 15}\n",
		strings.Replace(b2Base, "0 */12 * * *", "0 3 * * 1-5", 1) + "  lock: {mode: compliance, days: 17}\nretention:\n  keep_within: 2w\n",
		b2Base + "  lock: {mode: governance, days: 1}\nretention:\n  keep_within: 0d\n",
		s3Base + "  lock: {mode: compliance, days: 15}\n",
	} {
		if _, _, err := loadYAML(t, t.TempDir(), y); err != nil {
			t.Errorf("refused: %v\n%s", err, y)
		}
	}
	if n := MinLockDays(14*day, 12*time.Hour); n != 15 {
		t.Errorf("MinLockDays = %d", n)
	}
}
