package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/mediasync"
)

// TestMirrorReverseFilterAndLimit: mirror --reverse applies media.exclude
// (a mirror made before the exclude keeps cache/, which the way back leaves
// out and counts) under media.max_requests_per_second.
func TestMirrorReverseFilterAndLimit(t *testing.T) {
	ctx := context.Background()
	src, client, _, cfg := mirrorSetup(t, "  max_requests_per_second: 5\n")
	text, _ := os.ReadFile(cfg)
	if code, out, errOut := mbackup(t, "--config", cfg, "mirror"); code != exitOK || !strings.Contains(out, "copied 3 objects") {
		t.Fatalf("mirror exited %d:\n%s%s", code, out, errOut)
	}
	os.WriteFile(cfg, append(text, "  exclude: [cache/]\n"...), 0o600)

	if err := src.CreateBucket(ctx, "restored", false); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", src.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", src.SecretAccessKey)
	code, out, errOut := mbackup(t, "--config", cfg, "mirror", "--reverse", "--to-endpoint", "http://"+src.Endpoint,
		"--to-region", src.Region, "--to-bucket", "restored")
	if code != exitOK || !strings.Contains(out, "copied 2 objects") || !strings.Contains(out, "1 in the storage outside media.include/exclude") {
		t.Fatalf("mirror --reverse exited %d:\n%s%s", code, out, errOut)
	}
	if _, err := client.StatObject(ctx, "restored", "cache/custom_emojis/images/000/blob.gif", minio.StatObjectOptions{}); err == nil {
		t.Error("mirror --reverse copied an excluded key")
	}
}

// TestMirrorSummaryThrottled: the summary ends with how the bucket and the
// storage throttled the run.
func TestMirrorSummaryThrottled(t *testing.T) {
	r := mediasync.Result{
		Counts:           mediasync.Counts{Copied: 5, Listed: 5},
		SourceThrottling: mediasync.Throttling{Limit: 150, Throttles: 37, Pauses: 4, Lowest: 75},
		StoreThrottling:  mediasync.Throttling{Limit: 150},
	}
	if got := mirrorSummary(r, false); !strings.HasSuffix(got, "; throttled 37 times by the source; rate lowered to 75/s") {
		t.Errorf("mirror: %q", got)
	}
	if got := transferSummary(r, false, "target"); !strings.HasSuffix(got, "; throttled 37 times by the target; rate lowered to 75/s") {
		t.Errorf("mirror --reverse: %q", got)
	}
	r.SourceThrottling = mediasync.Throttling{Limit: 150}
	if got := mirrorSummary(r, false); strings.Contains(got, "throttled") {
		t.Errorf("no throttle: %q", got)
	}
}
