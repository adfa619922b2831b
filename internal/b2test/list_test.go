package b2test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/Backblaze/blazer/b2"
)

// listed returns "name:status" for every object a listing yields.
func listed(t *testing.T, ctx context.Context, bk *b2.Bucket, opts ...b2.ListOption) []string {
	t.Helper()
	var out []string
	it := bk.List(ctx, opts...)
	for it.Next() {
		o := it.Object()
		a, err := o.Attrs(ctx)
		if err != nil {
			t.Fatalf("Attrs of %s: %v", o.Name(), err)
		}
		out = append(out, o.Name()+":"+statusName(a.Status))
	}
	if err := it.Err(); err != nil {
		t.Fatalf("List: %v", err)
	}
	return out
}

func statusName(s b2.ObjectState) string {
	switch s {
	case b2.Uploaded:
		return "up"
	case b2.Hider:
		return "hide"
	case b2.Started:
		return "start"
	case b2.Folder:
		return "folder"
	}
	return "?"
}

func mustPut(t *testing.T, ctx context.Context, bk *b2.Bucket, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := put(ctx, bk, n, []byte(n)); err != nil {
			t.Fatalf("put %s: %v", n, err)
		}
	}
}

func TestListOrderAndPages(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	// Upload out of order; "B" < "a" < "a/b" < "a0" < "é" in UTF-8 bytes.
	mustPut(t, ctx, bk, "é", "a0", "a/b", "B", "a", "a/c")
	want := []string{"B:up", "a:up", "a/b:up", "a/c:up", "a0:up", "é:up"}
	for _, page := range []int{1, 2, 1000} {
		if got := listed(t, ctx, bk, b2.ListPageSize(page)); !slices.Equal(got, want) {
			t.Errorf("page %d: %v, want %v", page, got, want)
		}
	}
	if n := s.Count("b2_list_file_names"); n < 4 {
		t.Errorf("page size 1 and 2 took only %d list calls in all", n)
	}
	if got := listed(t, ctx, bk, b2.ListPrefix("a/"), b2.ListPageSize(2)); !slices.Equal(got, want[2:4]) {
		t.Errorf("prefix a/: %v", got)
	}
	got := listed(t, ctx, bk, b2.ListDelimiter("/"))
	if want := []string{"B:up", "a:up", "a/:folder", "a0:up", "é:up"}; !slices.Equal(got, want) {
		t.Errorf("delimiter: %v, want %v", got, want)
	}
}

func TestHideAndVersions(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	mustPut(t, ctx, bk, "a", "b", "b", "c")
	if err := bk.Object("b").Hide(ctx); err != nil {
		t.Fatalf("Hide: %v", err)
	}
	if got, want := listed(t, ctx, bk), []string{"a:up", "c:up"}; !slices.Equal(got, want) {
		t.Errorf("List after hide: %v, want %v", got, want)
	}
	want := []string{"a:up", "b:hide", "b:up", "b:up", "c:up"}
	for _, page := range []int{2, 1000} {
		if got := listed(t, ctx, bk, b2.ListHidden(), b2.ListPageSize(page)); !slices.Equal(got, want) {
			t.Errorf("ListHidden page %d: %v, want %v", page, got, want)
		}
	}
	v := s.Versions(testBucket)
	if len(v) != 5 || v[1].Action != "hide" || v[2].ID <= v[3].ID { // ids grow with creation
		t.Errorf("Versions = %+v", v)
	}
	if _, err := get(ctx, bk, "b"); !b2.IsNotExist(err) {
		t.Errorf("download hidden: %v, want not found", err)
	}
	if _, ok := s.Content(testBucket, "b"); ok {
		t.Error("Content of hidden name reported present")
	}
	if err := bk.Reveal(ctx, "b"); err != nil {
		t.Fatalf("Reveal: %v", err)
	}
	if got, ok := s.Content(testBucket, "b"); !ok || string(got) != "b" {
		t.Errorf("Content after reveal = %q, %v", got, ok)
	}
}

// startLarge leaves an unfinished large file named name with one part: the
// writer's context is cancelled once the first part is stored.
func startLarge(t *testing.T, s *Server, bk *b2.Bucket, name string) {
	t.Helper()
	before := len(s.Unfinished(testBucket))
	ctx, cancel := context.WithCancel(testCtx(t))
	w := bk.Object(name).NewWriter(ctx)
	w.ChunkSize = 5e6
	if _, err := w.Write(randBytes(5e6 + 1)); err != nil {
		t.Fatal(err)
	}
	for { // the first part is sent by the writer's goroutine
		u := s.Unfinished(testBucket)
		if len(u) > before && u[len(u)-1].Size == 5e6 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	w.Close()
}

func TestUnfinishedAndCancel(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	mustPut(t, ctx, bk, "z-done")
	startLarge(t, s, bk, "y-big")
	startLarge(t, s, bk, "x-big")
	// Oldest first; blazer leaves Attrs.Status unset for unfinished files.
	if got, want := listed(t, ctx, bk, b2.ListUnfinished(), b2.ListPageSize(1)), []string{"y-big:?", "x-big:?"}; !slices.Equal(got, want) {
		t.Errorf("ListUnfinished: %v, want %v", got, want)
	}
	if got := listed(t, ctx, bk); !slices.Equal(got, []string{"z-done:up"}) {
		t.Errorf("List shows unfinished files: %v", got)
	}
	it := bk.List(ctx, b2.ListUnfinished())
	for it.Next() {
		if err := it.Object().Cancel(ctx); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if u := s.Unfinished(testBucket); len(u) != 0 {
		t.Errorf("unfinished after cancel: %+v", u)
	}
	if n := s.Count("b2_cancel_large_file"); n != 2 {
		t.Errorf("cancel calls = %d", n)
	}
}

func TestSetNowDatesUnfinished(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	old := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.SetNow(func() time.Time { return old })
	startLarge(t, s, bk, "old")
	s.SetNow(nil)
	startLarge(t, s, bk, "new")
	it := bk.List(ctx, b2.ListUnfinished())
	var got []time.Time
	for it.Next() {
		a, err := it.Object().Attrs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.UploadTimestamp)
	}
	if len(got) != 2 || !got[0].Equal(old) || time.Since(got[1]) > time.Minute {
		t.Errorf("upload timestamps = %v, want %v then now", got, old)
	}
	if u := s.Unfinished(testBucket); len(u) != 2 || !u[0].Uploaded.Equal(old) || u[0].Size != 5e6 {
		t.Errorf("Unfinished = %+v", u)
	}
}
