package config

import (
	"fmt"
	"strconv"
	"time"
)

// Lock is storage.lock: every object the backup host writes stays
// undeletable for Days days (B2 Object Lock, or S3 Object Lock on a bucket
// created with it), so that whoever holds the host's key cannot erase the
// history inside that window. Not on a local store.
type Lock struct {
	// Mode is governance (a key with bypassGovernance can shorten or lift
	// a lock) or compliance (no one can, the provider included). Required.
	Mode string `yaml:"mode"`
	// Days is how long each object stays locked after its upload. At
	// least retention.keep_within plus one backup interval: an object must
	// outlive the policy that deletes it.
	Days int `yaml:"days"`
}

// Values of storage.lock.mode.
const (
	LockGovernance = "governance"
	LockCompliance = "compliance"
)

// MaxLockDays is the longest retention B2 Object Lock supports; the s3
// store keeps the same bound.
const MaxLockDays = 3000

// intervalWeek is the span over which BackupInterval measures the gaps.
const intervalWeek = 7 * day

// BackupInterval is the longest gap between two runs of the cron
// schedule expr (schedule.backup), measured over a week of runs from a
// fixed Monday, UTC, plus the gap that ends the week (a schedule that runs
// less than weekly gives its one gap).
func BackupInterval(expr string) (time.Duration, error) {
	s, err := cronParser.Parse(expr)
	if err != nil {
		return 0, fmt.Errorf("config: schedule %q: %w", expr, err)
	}
	prev := s.Next(time.Date(2026, time.January, 5, 0, 0, 0, 0, time.UTC))
	end := prev.Add(intervalWeek)
	var longest time.Duration
	for n := 0; n <= 7*24*60 && !prev.IsZero() && !prev.After(end); n++ {
		next := s.Next(prev)
		if next.IsZero() {
			break
		}
		longest = max(longest, next.Sub(prev))
		prev = next
	}
	if longest == 0 {
		return 0, fmt.Errorf("config: schedule %q: never runs twice", expr)
	}
	return longest, nil
}

// validateLock checks storage.lock against the storage type, the
// retention and the backup schedule of c.
func (c *Config) validateLock(v *validator) {
	l := c.Storage.Lock
	if l == nil {
		return
	}
	if c.Storage.Type != StorageB2 && c.Storage.Type != StorageS3 {
		v.add("storage.lock", "Object Lock needs a b2 or s3 store (storage.type is %s): remove storage.lock",
			c.Storage.Type)
		return
	}
	if l.Mode != LockGovernance && l.Mode != LockCompliance {
		v.add("storage.lock.mode", "must be governance or compliance")
	}
	if l.Days < 1 || l.Days > MaxLockDays {
		v.add("storage.lock.days", "must be between 1 and %d (B2's limit)", MaxLockDays)
		return
	}
	interval, err := BackupInterval(c.Schedule.Backup)
	if err != nil {
		return // schedule.backup is reported on its own
	}
	kw := c.Retention.KeepWithin.Std()
	if need := MinLockDays(kw, interval); l.Days < need {
		v.add("storage.lock.days", "%s is shorter than retention.keep_within (%s) plus one backup interval (%s, "+
			"the longest gap between two runs of schedule.backup %q): an object must stay locked as long as "+
			"retention keeps it; set days to at least %d", plural(l.Days, "day"), spellAge(kw),
			spellInterval(interval), c.Schedule.Backup, need)
	}
}

// MinLockDays is the shortest storage.lock.days for keep_within kw and a
// backup interval: whole days covering both.
func MinLockDays(kw, interval time.Duration) int {
	return int((kw + interval + day - 1) / day)
}

// spellInterval writes d as "12h", "7 days" or a Go duration.
func spellInterval(d time.Duration) string {
	switch {
	case d%day == 0:
		return plural(int(d/day), "day")
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return d.String()
}
