package config

import (
	"strings"
	"testing"
	"time"
)

// TestRetentionUnits: retention.keep_within takes days, weeks and years;
// every unit below a day is refused with why and what to write.
func TestRetentionUnits(t *testing.T) {
	for _, tt := range []struct {
		within string
		want   time.Duration
		err    string // "" when accepted
	}{
		{"14d", 14 * day, ""},
		{"2w", 14 * day, ""},
		{"1y", 365 * day, ""},
		{"1y6w", (365 + 42) * day, ""},
		{"0", 0, ""},
		{"0s", 0, ""},
		{"6m", 0, `mbackup.yaml:4: retention.keep_within: 6m is 6 minutes here, not 6 months: retention counts days: write d, w (7 days) or y (365 days), such as 180d`},
		{"1m", 0, `retention.keep_within: 1m is 1 minute here, not 1 month: retention counts days: write d, w (7 days) or y (365 days), such as 30d`},
		{"36h", 0, `mbackup.yaml:4: retention.keep_within: 36h has a unit below a day (h, m or s): retention counts days: write d, w (7 days) or y (365 days), such as 2d`},
		{"1d12h", 0, `1d12h has a unit below a day (h, m or s): retention counts days: write d, w (7 days) or y (365 days), such as 2d`},
		{"90s", 0, `90s has a unit below a day (h, m or s): retention counts days: write d, w (7 days) or y (365 days), such as 1d`},
		{"${WITHIN}", 0, `6h has a unit below a day`},
	} {
		t.Run(tt.within, func(t *testing.T) {
			t.Setenv("WITHIN", "6h")
			yaml := "storage: {type: local, path: /b}\nencryption: {recipients: [" + testRecipient + "]}\nretention:\n  keep_within: " + tt.within + "\n"
			c, _, err := loadYAML(t, t.TempDir(), yaml)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Retention.KeepWithin.Std() != tt.want {
					t.Errorf("keep_within = %v, want %v", c.Retention.KeepWithin.Std(), tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error = %v, want it to hold %q", err, tt.err)
			}
		})
	}
}

// TestRetentionOtherDurations: a unit below a day stays fine outside
// retention (timeouts), and weeks are accepted there too.
func TestRetentionOtherDurations(t *testing.T) {
	yaml := "storage: {type: local, path: /b}\nencryption: {recipients: [" + testRecipient + "]}\ndump_stall_timeout: 6m\nretention: {keep_within: 2w}\n"
	c, _, err := loadYAML(t, t.TempDir(), yaml)
	if err != nil {
		t.Fatal(err)
	}
	if c.DumpStallTimeout.Std() != 6*time.Minute || c.Retention.KeepWithin.Std() != 14*day {
		t.Errorf("dump_stall_timeout %v, keep_within %v", c.DumpStallTimeout.Std(), c.Retention.KeepWithin.Std())
	}
}

func TestRetentionDescribe(t *testing.T) {
	for _, tt := range []struct {
		r    Retention
		want string
	}{
		{Retention{KeepWithin: Duration(14 * day), KeepLast: 2}, "keep every snapshot younger than 14 days, and the newest 2 complete ones"},
		{Retention{KeepWithin: Duration(day), KeepLast: 1}, "keep every snapshot younger than 1 day, and the newest complete one"},
		{Retention{KeepLast: 1}, "keep the newest complete snapshot"},
		{Retention{KeepLast: 3, KeepDaily: 7, KeepMonthly: 1}, "keep the newest 3 complete snapshots, and the newest complete snapshot of each of the last 7 days, 1 month"},
		{Retention{KeepWithin: Duration(90 * time.Minute), KeepLast: 2, KeepWeekly: 4}, "keep every snapshot younger than 1h30m0s, and the newest 2 complete ones, and the newest complete snapshot of each of the last 4 weeks"},
	} {
		if got := tt.r.Describe(); got != tt.want {
			t.Errorf("Describe(%+v) =\n %q, want\n %q", tt.r, got, tt.want)
		}
	}
}
