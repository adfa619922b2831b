package mediasync

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestOutOfOrderSourceAbortsBeforeDeleting(t *testing.T) {
	bodies := map[string]string{"a": "A", "b": "B", "c": "C", "d": "D"}
	c := newFakeS3([]string{"a", "c", "b", "d"}, bodies).start(t)
	st := newLocal(t)
	ctx := context.Background()
	if _, err := st.Put(ctx, "media/zzz", strings.NewReader("keep me")); err != nil {
		t.Fatal(err)
	}
	o := opts(c, "bkt", st, nil)
	o.Delete, o.MaxDelete = true, 100
	res, err := Mirror(ctx, o)
	if !errors.Is(err, ErrOutOfOrder) || !strings.Contains(err.Error(), `"b" after "c"`) {
		t.Fatalf("err = %v", err)
	}
	if res.Deleted != 0 {
		t.Fatalf("%+v", res)
	}
	if got := storeContent(t, st, "media/"); got["zzz"] != "keep me" {
		t.Errorf("orphan gone: %v", got)
	}
	if hasIndex(t, st) {
		t.Error("index committed after an aborted listing")
	}
}

func TestDuplicateKeyAborts(t *testing.T) {
	c := newFakeS3([]string{"a", "a"}, map[string]string{"a": "A"}).start(t)
	_, err := Mirror(context.Background(), opts(c, "bkt", newLocal(t), nil))
	if !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("err = %v", err)
	}
}

// TestKeysServersNormalise lists the B2-illegal forms that a real server
// may refuse or rewrite: folder markers, empty segments, over-long keys.
func TestKeysServersNormalise(t *testing.T) {
	bodies := map[string]string{
		"/leading": "1", "a//b": "2", "folder/": "", "ok/one": "3", "ok/two": "4",
		strings.Repeat("x/", 460) + "y": "5", "tab\tkey": "6",
	}
	var keys []string
	for k := range bodies {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	c := newFakeS3(keys, bodies).start(t)
	st, _ := newB2(t)
	res := mirror(t, opts(c, "bkt", st, nil))
	if res.Copied != 2 || res.Skipped != 5 || len(res.SkippedKeys) != 5 {
		t.Fatalf("%+v", res)
	}
	sameContent(t, storeContent(t, st, "media/"), map[string]string{"ok/one": "3", "ok/two": "4"})
}
