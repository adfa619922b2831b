package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/storage"
)

// lockedStore is a store with lock l on a new lock-enabled bucket.
func lockedStore(t *testing.T, bucket string, l Lock) *Store {
	t.Helper()
	if err := srv.CreateLockedBucket(context.Background(), bucket); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(bucket, "p")
	cfg.Lock = l
	return newStore(t, cfg)
}

// versionsOfKey lists the versions of p/key behind the store's back.
func versionsOfKey(t *testing.T, bucket, key string) []minio.ObjectInfo {
	t.Helper()
	var out []minio.ObjectInfo
	opts := minio.ListObjectsOptions{Prefix: "p/" + key, Recursive: true, WithVersions: true}
	for info := range rawClient(t).ListObjects(context.Background(), bucket, opts) {
		if info.Err != nil {
			t.Fatal(info.Err)
		}
		if info.Key == "p/"+key {
			out = append(out, info)
		}
	}
	return out
}

func TestLockRetentionOnEveryWrite(t *testing.T) {
	ctx := context.Background()
	s := lockedStore(t, "lock-write", Lock{Mode: Governance, Days: 3})
	before := time.Now()
	big := bytes.Repeat([]byte("m"), MinPartSize+1000) // multipart
	if _, err := s.Put(ctx, "single", strings.NewReader("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutSized(ctx, "sized", strings.NewReader("two"), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "multi", bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	c := rawClient(t)
	for _, key := range []string{"single", "sized", "multi"} {
		vs := versionsOfKey(t, "lock-write", key)
		if len(vs) != 1 {
			t.Fatalf("%s: %d versions, want 1", key, len(vs))
		}
		mode, until, err := s.retention(ctx, "p/"+key, vs[0].VersionID)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := before.Add(3*24*time.Hour-time.Second), time.Now().Add(3*24*time.Hour+time.Second)
		if mode != Governance || until.Before(lo) || until.After(hi) {
			t.Errorf("%s: retention %q until %v, want governance within [%v, %v]", key, mode, until, lo, hi)
		}
		err = c.RemoveObject(ctx, "lock-write", "p/"+key, minio.RemoveObjectOptions{VersionID: vs[0].VersionID})
		if !isLockRefusal(err) {
			t.Errorf("%s: delete of the retained version: %v, want refused", key, err)
		}
	}
}

func TestLockNotWrittenWithoutLock(t *testing.T) {
	ctx := context.Background()
	s := lockedStore(t, "lock-none", Lock{})
	if _, err := s.Put(ctx, "k", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	vs := versionsOfKey(t, "lock-none", "k")
	if mode, until, err := s.retention(ctx, "p/k", vs[0].VersionID); err != nil || mode != "" || !until.IsZero() {
		t.Fatalf("retention %q %v %v, want none", mode, until, err)
	}
}

func TestLockOnBucketWithoutObjectLock(t *testing.T) {
	ctx := context.Background()
	if err := srv.CreateBucket(ctx, "lock-nolock", true); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("lock-nolock", "p")
	cfg.Lock = Lock{Mode: Compliance, Days: 1}
	s := newStore(t, cfg)
	if _, err := s.Put(ctx, "k", strings.NewReader("x")); err == nil {
		t.Fatal("Put with a lock into a bucket without Object Lock succeeded")
	} else {
		t.Log(err)
	}
}

func TestLockConfigChecked(t *testing.T) {
	for _, l := range []Lock{{Mode: "forever", Days: 1}, {Mode: Governance}, {Days: 3}} {
		cfg := testConfig("b", "")
		cfg.Lock = l
		if _, err := New(context.Background(), cfg); err == nil {
			t.Errorf("lock %+v accepted", l)
		}
	}
}

var _ = errors.New
var _ = io.EOF
var _ storage.Object
