package preflight

import (
	"context"
	"fmt"

	"mbackup/internal/config"
	"mbackup/internal/storage/s3"
)

// s3Lock reports, for a storage.lock on an s3 store, whether the bucket
// has Object Lock: the store writes each object with its own retention,
// which a bucket without it refuses.
func s3Lock(ctx context.Context, s *s3.Store, sc config.Storage) []Result {
	r := &results{what: "storage s3 lock"}
	if sc.Lock == nil {
		return nil
	}
	enabled, err := s.ObjectLock(ctx)
	switch {
	case err != nil:
		r.fail(err.Error(), "the key needs s3:GetBucketObjectLockConfiguration to check the lock")
	case !enabled:
		r.fail(fmt.Sprintf("bucket %s has no Object Lock: nothing stops this host's key from deleting the backups", sc.Bucket),
			fmt.Sprintf("create a bucket with Object Lock (most providers allow it only at creation): "+
				"aws s3api create-bucket --bucket NAME --object-lock-enabled-for-bucket, or mc mb --with-lock ALIAS/NAME; "+
				"then point storage.bucket at it (now %s); or remove storage.lock", sc.Bucket))
	default:
		r.ok(fmt.Sprintf("bucket %s has Object Lock; each object is written with a %s retention of %d days",
			sc.Bucket, sc.Lock.Mode, sc.Lock.Days))
	}
	return r.rs
}
