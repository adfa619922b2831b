package config

import (
	"strings"
	"testing"
)

func TestShrinkThreshold(t *testing.T) {
	for _, c := range []struct {
		yaml string // retention.shrink_threshold, or "" for none
		want Threshold
		err  string
	}{
		{"", DefaultShrinkThreshold, ""},
		{"30%", 30, ""},
		{"\"10%\"", 10, ""},
		{"99", 99, ""},
		{"off", 0, ""},
		{"0", 0, ""},
		{"0%", 0, ""},
		{"100%", 0, "mbackup.yaml:7: retention.shrink_threshold: must be 1% to 99%, or \"off\""},
		{"-5%", 0, "mbackup.yaml:7: retention.shrink_threshold: must be 1% to 99%, or \"off\""},
		{"half", 0, "mbackup.yaml:7: retention.shrink_threshold: must be a percentage like 50% (1% to 99%), or \"off\""},
		{"12.5%", 0, "mbackup.yaml:7: retention.shrink_threshold: must be a percentage like 50% (1% to 99%), or \"off\""},
	} {
		t.Run(c.yaml, func(t *testing.T) {
			y := base
			if c.yaml != "" {
				y += "retention:\n  shrink_threshold: " + c.yaml + "\n"
			}
			cfg, _, err := loadYAML(t, t.TempDir(), y)
			if c.err != "" {
				if err == nil || !containsLine(err.Error(), c.err) {
					t.Fatalf("err = %v, want %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Retention.ShrinkThreshold != c.want {
				t.Errorf("threshold %v, want %v", cfg.Retention.ShrinkThreshold, c.want)
			}
		})
	}
	if s := Threshold(0).String() + " " + Threshold(50).String(); s != "off 50%" {
		t.Errorf("String: %s", s)
	}
}

// containsLine reports whether one line of s ends with want.
func containsLine(s, want string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasSuffix(l, want) {
			return true
		}
	}
	return false
}

// TestMediaPrefixNotAcceptances: the media mirror, which deletes what its
// source lacks, cannot live where acceptances are kept.
func TestMediaPrefixNotAcceptances(t *testing.T) {
	for prefix, want := range map[string]string{
		"media/":                 "",
		"shrink-accepted/":       "media.prefix: must not be under shrink-accepted/, where accept-shrink records its acceptances",
		"shrink-accepted/media/": "media.prefix: must not be under shrink-accepted/, where accept-shrink records its acceptances",
	} {
		y := base + "media:\n  source: {endpoint: https://s3.example, bucket: m, access_key_id: k, secret_access_key: s}\n  prefix: " + prefix + "\n"
		_, _, err := loadYAML(t, t.TempDir(), y)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("prefix %s: err = %v, want %q", prefix, err, want)
		}
	}
}
