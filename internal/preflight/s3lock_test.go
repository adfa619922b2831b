package preflight

import (
	"context"
	"testing"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/storage/configured"
	"mbackup/internal/storage/s3"
	"mbackup/internal/testenv"
)

// s3Storage is an s3 storage section for bucket on srv with lock l.
func s3Storage(srv *testenv.S3, bucket string, l *config.Lock) config.Storage {
	s := config.Default().Storage
	s.Type, s.Endpoint, s.Region, s.Bucket = config.StorageS3, "http://"+srv.Endpoint, srv.Region, bucket
	s.AccessKeyID, s.SecretAccessKey = srv.AccessKeyID, config.NewSecret(srv.SecretAccessKey)
	s.CallTimeout, s.StallTimeout = config.Duration(10*time.Second), config.Duration(10*time.Second)
	s.Lock = l
	return s
}

// TestS3Lock: storage.lock on an s3 bucket with Object Lock is ✅ and the
// probe's object stays, locked; on a bucket without it, ❌ with how to
// make one, and the probe's refused write says the same; without
// storage.lock there is no lock line.
func TestS3Lock(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartS3(t)
	if err := srv.CreateLockedBucket(ctx, "locked"); err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateBucket(ctx, "plain", true); err != nil {
		t.Fatal(err)
	}
	rs, _ := store(ctx, s3Storage(srv, "locked", governance15))
	want(t, find(t, rs, "storage s3 lock"), OK, "bucket locked has Object Lock; each object is written with a governance retention of 15 days", "")
	want(t, find(t, rs, "storage s3"), OK, "Object Lock works", "")

	rs, _ = store(ctx, s3Storage(srv, "plain", governance15))
	want(t, find(t, rs, "storage s3 lock"), Fail, "bucket plain has no Object Lock", "--object-lock-enabled-for-bucket")
	want(t, find(t, rs, "storage s3"), Fail, "has no Object Lock, which storage.lock needs", "make the bucket and the key fit storage.lock")

	rs, _ = store(ctx, s3Storage(srv, "plain", nil))
	for _, r := range rs {
		if r.What == "storage s3 lock" || r.Level != OK {
			t.Errorf("without storage.lock: %+v", r)
		}
	}
}

// TestS3LockUnreadable: a lock configuration that cannot be read is ❌.
func TestS3LockUnreadable(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartS3(t)
	sc := s3Storage(srv, "no-such-bucket", governance15)
	st, err := configured.Open(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	want(t, s3Lock(ctx, st.(*s3.Store), sc), Fail, "object lock configuration", "s3:GetBucketObjectLockConfiguration")
}
