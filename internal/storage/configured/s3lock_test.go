package configured

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/config"
	"mbackup/internal/testenv"
)

// TestS3LockPassed: storage.lock reaches the s3 store: what it writes
// carries the retention (read from the HEAD response's headers).
func TestS3LockPassed(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartS3(t)
	if err := srv.CreateLockedBucket(ctx, "locked"); err != nil {
		t.Fatal(err)
	}
	c := config.Storage{Type: config.StorageS3, Endpoint: "http://" + srv.Endpoint, Region: srv.Region,
		Bucket: "locked", AccessKeyID: srv.AccessKeyID, SecretAccessKey: config.NewSecret(srv.SecretAccessKey),
		Lock: &config.Lock{Mode: config.LockCompliance, Days: 5}}
	s, err := Open(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "k", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	raw, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	info, err := raw.StatObject(ctx, "locked", "k", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	until, err := time.Parse(time.RFC3339, info.Metadata.Get("X-Amz-Object-Lock-Retain-Until-Date"))
	want := time.Now().Add(5 * 24 * time.Hour)
	if mode := info.Metadata.Get("X-Amz-Object-Lock-Mode"); mode != "COMPLIANCE" || err != nil ||
		until.Before(want.Add(-time.Hour)) || until.After(want) {
		t.Errorf("retention %q until %v (%v), want COMPLIANCE until about %v", mode, until, err, want)
	}
}
