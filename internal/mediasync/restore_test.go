package mediasync

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
)

func TestRestoreIntoFreshBucket(t *testing.T) {
	c, bucket := newBucket(t)
	want := map[string]string{}
	for i := range 12 {
		b := make([]byte, []int{0, 1, 4999, 5000, 5001, 70000}[i%6])
		rand.Read(b)
		k := fmt.Sprintf("media_attachments/files/%d/original/f%d.jpg", i, i)
		putObj(t, c, bucket, k, b)
		want[k] = string(b)
	}
	putObj(t, c, bucket, "site_uploads/ñ a.png", []byte("unicode"))
	want["site_uploads/ñ a.png"] = "unicode"
	st, _ := newB2(t)
	mirror(t, opts(c, bucket, st, nil))

	_, target := newBucket(t)
	ro := RestoreOptions{Store: st, Prefix: "media/", Target: Source{Client: c, Bucket: target}, Workers: 3}
	res, err := Restore(context.Background(), ro)
	if err != nil {
		t.Fatal(err)
	}
	if res.Copied != int64(len(want)) || res.Listed != int64(len(want)) {
		t.Fatalf("%+v", res.Counts)
	}
	sameContent(t, bucketContent(t, c, target), want)
	oi, err := c.StatObject(context.Background(), target, "media_attachments/files/1/original/f1.jpg", minioStat())
	if err != nil || oi.ContentType != "image/jpeg" {
		t.Errorf("content type %q, %v", oi.ContentType, err)
	}

	// A second restore finds everything in place.
	if res, err = Restore(context.Background(), ro); err != nil || res.Copied != 0 || res.Unchanged != int64(len(want)) {
		t.Fatalf("second restore: %+v, %v", res.Counts, err)
	}
	// A dry run into another bucket writes nothing.
	_, other := newBucket(t)
	ro.Target.Bucket, ro.DryRun = other, true
	if res, err = Restore(context.Background(), ro); err != nil || res.Copied != int64(len(want)) {
		t.Fatalf("dry run: %+v, %v", res.Counts, err)
	}
	if got := bucketContent(t, c, other); len(got) != 0 {
		t.Errorf("dry run wrote %d objects", len(got))
	}
}
