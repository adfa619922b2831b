package mediasync

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"mbackup/internal/storage"
)

// TestExcludeCache: with exclude [cache/] on a source whose keys are 80 %
// cache/, only the rest is copied; cache/ objects already in the store are
// neither deleted (delete: true) nor counted as planned deletions, and the
// source listing skips cache/ with one extra request.
func TestExcludeCache(t *testing.T) {
	c, bucket := newBucket(t)
	p := newCountingProxy(t, nil)
	pc := p.client(t)
	want := map[string]string{}
	for i := range 50 {
		k := fmt.Sprintf("media_attachments/files/%03d.png", i)
		if i%5 != 0 {
			k = fmt.Sprintf("cache/media_attachments/files/%03d.png", i)
		}
		putObj(t, c, bucket, k, []byte(k))
		if !strings.HasPrefix(k, "cache/") {
			want[k] = k
		}
	}
	putObj(t, c, bucket, "site_uploads/x.png", []byte("x"))
	want["site_uploads/x.png"] = "x"
	st, err := newLocalDir(t)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A cache object mirrored before the exclude was set, which the source
	// no longer has.
	if _, err := st.Put(ctx, "media/cache/old.png", strings.NewReader("old")); err != nil {
		t.Fatal(err)
	}
	o := opts(pc, bucket, st, nil)
	o.Exclude = []string{"cache/"}
	o.Delete, o.MaxDelete = true, 100
	p.take()
	res := mirror(t, o)
	if res.Copied != 11 || res.Listed != 11 || res.Excluded != 1 || res.PlannedDeletes != 0 || res.Deleted != 0 {
		t.Errorf("first run: %+v, %d planned deletes", res.Counts, res.PlannedDeletes)
	}
	got := storeContent(t, st, "media/")
	want["cache/old.png"] = "old"
	sameContent(t, got, want)
	if n := p.take()["GET list"]; n != 2 {
		t.Errorf("source listings: %d; want 2 (one skipping cache/)", n)
	}

	// Without the exclude, the run would delete cache/old.png.
	res = mirror(t, o)
	if res.Copied != 0 || res.Unchanged != 11 || res.Excluded != 1 || res.Deleted != 0 {
		t.Errorf("second run: %+v", res.Counts)
	}
	if _, err := st.Stat(ctx, "media/cache/old.png"); err != nil {
		t.Errorf("the excluded cache/old.png: %v", err)
	}
	o.Exclude = nil
	o.DryRun = true
	if res := mirror(t, o); res.PlannedDeletes != 1 || res.Copied != 40 {
		t.Errorf("dry run without exclude: %+v, %d planned deletes; want 40 copies and 1 delete", res.Counts, res.PlannedDeletes)
	}
}

// TestInclude lists the source per include prefix; other keys are left.
func TestInclude(t *testing.T) {
	c, bucket := newBucket(t)
	for _, k := range []string{"accounts/a.png", "accounts/b.png", "cache/c.png", "media_attachments/m.png", "site_uploads/s.png", "zz/z.png"} {
		putObj(t, c, bucket, k, []byte(k))
	}
	st, err := newLocalDir(t)
	if err != nil {
		t.Fatal(err)
	}
	o := opts(c, bucket, st, nil)
	o.Include = []string{"site_uploads/", "accounts/", "accounts/a"}
	o.Exclude = []string{"accounts/b"}
	res := mirror(t, o)
	if res.Copied != 2 {
		t.Errorf("include: %+v", res.Counts)
	}
	sameContent(t, storeContent(t, st, "media/"), map[string]string{"accounts/a.png": "accounts/a.png", "site_uploads/s.png": "site_uploads/s.png"})
	o.Include = []string{""}
	if _, err := Mirror(context.Background(), o); err == nil {
		t.Error("an empty include prefix was accepted")
	}
}

// TestFilterOutermost keeps only the outermost prefixes, sorted.
func TestFilterOutermost(t *testing.T) {
	got := outermost([]string{"b/", "a/x", "a/", "b/c/", "c"})
	if strings.Join(got, ",") != "a/,b/,c" {
		t.Errorf("outermost = %q", got)
	}
	var _ storage.Store = limitedStore{}
}
