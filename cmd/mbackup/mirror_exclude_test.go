package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"mbackup/internal/config"
	"mbackup/internal/mediasync"
)

// TestInitExcludesCache: init from a .env.production with a media bucket
// proposes exclude: [cache/], explains it, and the draft loads with it.
func TestInitExcludesCache(t *testing.T) {
	cfg, _ := initRun(t, "LOCAL_DOMAIN=m.example\nS3_ENABLED=true\nS3_BUCKET=media\nS3_HOSTNAME=files.example\n"+
		"AWS_ACCESS_KEY_ID=AK\nAWS_SECRET_ACCESS_KEY=sk\n")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "other servers' media, fetched again on\n  # demand") {
		t.Errorf("no comment on what cache/ is:\n%s", b)
	}
	fillTODOs(t, cfg)
	c, _, err := config.Load(cfg)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, b)
	}
	if !slices.Equal(c.Media.Exclude, []string{"cache/"}) || c.Media.RequestsPerSecond() != 150 {
		t.Errorf("media: exclude %q, %d requests per second", c.Media.Exclude, c.Media.RequestsPerSecond())
	}
}

// TestMirrorEstimate: 2.4 M objects to copy at 200 requests per second
// take at least 3.3 hours.
func TestMirrorEstimate(t *testing.T) {
	var r mediasync.Result
	r.Listed, r.Copied = 2_400_000, 2_400_000
	got := mirrorEstimate(r, 200)
	if !strings.Contains(got, "at least 3h20m") || !strings.Contains(got, "2402400 requests") {
		t.Errorf("estimate: %s", got)
	}
}
