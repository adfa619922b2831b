package config

import (
	"slices"
	"strings"
	"testing"
)

const mediaBase = base + "media:\n  source: {endpoint: s3.example.com, bucket: m, access_key_id: a, secret_access_key: s}\n"

func TestMediaSelectionAndLimit(t *testing.T) {
	t.Setenv("MBACKUP_TEST_USER", "backup")
	c, _, err := loadYAML(t, t.TempDir(), mediaBase+"  exclude: [cache/]\n  include: [media_attachments/, accounts/]\n  max_requests_per_second: 100\n")
	if err != nil {
		t.Fatal(err)
	}
	m := c.Media
	if !slices.Equal(m.Exclude, []string{"cache/"}) || len(m.Include) != 2 || m.RequestsPerSecond() != 100 {
		t.Errorf("media = %+v", m)
	}
	c, _, err = loadYAML(t, t.TempDir(), mediaBase)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Media.RequestsPerSecond(); got != DefaultMediaRequestsPerSecond {
		t.Errorf("default requests per second = %d", got)
	}
}

func TestMediaSelectionBad(t *testing.T) {
	t.Setenv("MBACKUP_TEST_USER", "backup")
	cases := map[string]string{
		"  exclude: [\"\"]\n":             "mbackup.yaml:8: media.exclude[0]: empty prefix: give a key prefix such as cache/",
		"  include: [a/, /cache/]\n":      `mbackup.yaml:8: media.include[1]: "/cache/" starts with a slash: bucket keys do not (cache/, not /cache/)`,
		"  max_requests_per_second: -5\n": "mbackup.yaml:8: media.max_requests_per_second: must be a positive number of requests per second, such as 150",
	}
	for yaml, want := range cases {
		_, _, err := loadYAML(t, t.TempDir(), mediaBase+yaml)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v; want %q", yaml, err, want)
		}
	}
}
