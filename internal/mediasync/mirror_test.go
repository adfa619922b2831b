package mediasync

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"mbackup/internal/b2test"
	"mbackup/internal/storage/local"
)

// seed puts n objects of assorted sizes (0 byte included) and returns them.
func seed(t *testing.T, n int) (want map[string]string, put func(k, v string)) {
	c, bucket := newBucket(t)
	want = map[string]string{}
	put = func(k, v string) {
		putObj(t, c, bucket, k, []byte(v))
		want[k] = v
	}
	for i := range n {
		b := make([]byte, i*997%5000)
		rand.Read(b)
		put(fmt.Sprintf("media_attachments/files/%03d/original/%d.png", i/7, i), string(b))
	}
	return want, put
}

func TestMirrorFirstRunThenNoop(t *testing.T) {
	c, bucket := newBucket(t)
	want := map[string]string{}
	for i := range 30 {
		b := make([]byte, i*997%5000)
		rand.Read(b)
		k := fmt.Sprintf("accounts/avatars/%03d/original/%d.png", i/7, i)
		putObj(t, c, bucket, k, b)
		want[k] = string(b)
	}
	st, srv := newB2(t)

	o := opts(c, bucket, st, nil)
	var last Counts
	o.Progress = func(c Counts) { last = c }
	res := mirror(t, o)
	if last != res.Counts {
		t.Errorf("last progress %+v, result %+v", last, res.Counts)
	}
	if res.Copied != 30 || res.Listed != 30 || res.Unchanged != 0 || res.Failed != 0 {
		t.Fatalf("first run: %+v", res.Counts)
	}

	// The requests of the no-op run are taken before the test reads the
	// store back: reading a 0-byte object ends with a ranged download that
	// the b2 store's reader may still send after Get's reader is closed
	// (see b2.Store.newReader), so a read-back just before the run once
	// put a download of a media object among the run's requests.
	before := len(srv.Requests())
	res = mirror(t, opts(c, bucket, st, nil))
	noop := answered(t, srv)[before:]
	if res.Copied != 0 || res.Unchanged != 30 || res.Adopted != 0 {
		t.Fatalf("no-op run: %+v", res.Counts)
	}
	sameContent(t, storeContent(t, st, "media/"), want)
	if !hasIndex(t, st) {
		t.Fatal("no index after two runs")
	}
	// A no-op run lists and reads the index (and stats it, a listing in
	// B2): nothing per object, and no upload of an index it did not change.
	for _, r := range noop {
		switch r.Method {
		case "b2_list_file_names", "b2_authorize_account":
		case "download":
			if r.Name != "m/"+IndexKey("media/") {
				t.Errorf("no-op run: %s of %q", r.Method, r.Name)
			}
		default:
			t.Errorf("no-op run: unexpected %s %q", r.Method, r.Name)
		}
	}
}

// answered returns the server's requests once every one of them has been
// answered: a request's name is logged when its handler returns, which
// may come after the client has read the whole answer.
func answered(t *testing.T, srv *b2test.Server) []b2test.Request {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		reqs := srv.Requests()
		pending := 0
		for _, r := range reqs {
			if r.Status == 0 {
				pending++
			}
		}
		if pending == 0 {
			return reqs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still unanswered after 30s", pending)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestChangedInPlaceIsCopiedAgain(t *testing.T) {
	c, bucket := newBucket(t)
	putObj(t, c, bucket, "a/1", []byte("hello"))
	putObj(t, c, bucket, "a/2", []byte("world"))
	st, _ := newB2(t)
	mirror(t, opts(c, bucket, st, nil))

	putObj(t, c, bucket, "a/2", []byte("WORLD")) // same size, new ETag
	res := mirror(t, opts(c, bucket, st, nil))
	if res.Copied != 1 || res.Unchanged != 1 {
		t.Fatalf("%+v", res.Counts)
	}
	sameContent(t, storeContent(t, st, "media/"), map[string]string{"a/1": "hello", "a/2": "WORLD"})
}

func TestDeletesOnlyWhatTheSourceLost(t *testing.T) {
	c, bucket := newBucket(t)
	for _, k := range []string{"a", "b", "c", "d"} {
		putObj(t, c, bucket, k, []byte(k))
	}
	st, _ := newB2(t)
	o := opts(c, bucket, st, nil)
	o.Delete, o.MaxDelete = true, 2
	mirror(t, o)
	rmObj(t, c, bucket, "b")
	rmObj(t, c, bucket, "d")
	var log bytes.Buffer
	o.Log = &log
	res := mirror(t, o)
	if res.Deleted != 2 || res.PlannedDeletes != 2 {
		t.Fatalf("%+v", res)
	}
	sameContent(t, storeContent(t, st, "media/"), map[string]string{"a": "a", "c": "c"})
	if !strings.Contains(log.String(), `delete "media/b"`) {
		t.Errorf("log: %s", log.String())
	}
	// The index no longer drives deletes of keys already gone.
	if res = mirror(t, o); res.Deleted != 0 || res.Unchanged != 2 {
		t.Fatalf("third run: %+v", res.Counts)
	}
}

func TestEmptySourceIsRefusedByTheLimit(t *testing.T) {
	want, _ := seed(t, 10)
	c, full := newBucket(t)
	for k, v := range want {
		putObj(t, c, full, k, []byte(v))
	}
	st, _ := newB2(t)
	mirror(t, opts(c, full, st, nil))

	_, empty := newBucket(t)
	o := opts(c, empty, st, nil)
	o.Delete, o.MaxDelete = true, 3
	res, err := Mirror(context.Background(), o)
	if !errors.Is(err, ErrDeleteLimit) || !strings.Contains(err.Error(), "10") || !strings.Contains(err.Error(), "limit is 3") {
		t.Fatalf("err = %v", err)
	}
	if res.Deleted != 0 || res.PlannedDeletes != 10 {
		t.Fatalf("%+v", res)
	}
	sameContent(t, storeContent(t, st, "media/"), want)

	o.MaxDelete = 0 // no deletes allowed at all
	if _, err := Mirror(context.Background(), o); !errors.Is(err, ErrDeleteLimit) {
		t.Fatalf("MaxDelete 0: %v", err)
	}
	sameContent(t, storeContent(t, st, "media/"), want)
}

// TestPersistentDestinationFaultIsRetriedPerObject: more 503s in a row
// than the store's own upload retries absorb; the per-object retry of the
// mirror still gets the object across.
func TestPersistentDestinationFaultIsRetriedPerObject(t *testing.T) {
	c, bucket := newBucket(t)
	putObj(t, c, bucket, "x/1", []byte("one"))
	st, srv := newB2(t)
	srv.Inject("b2_upload_file", b2test.Fault{Status: 503, Times: 6})
	var log bytes.Buffer
	o := opts(c, bucket, st, &log)
	o.Workers = 1
	res := mirror(t, o)
	if res.Copied != 1 || res.Failed != 0 {
		t.Fatalf("%+v", res.Counts)
	}
	// The store gives up after 4 requests in a row; the second attempt
	// of the mirror (after 2 more 503s) succeeds.
	if n := srv.Count("b2_upload_file"); n != 8 {
		t.Errorf("%d upload requests, want 6 refused + the object + the index", n)
	}
	sameContent(t, storeContent(t, st, "media/"), map[string]string{"x/1": "one"})

	// Beyond every retry the object fails, and only that object.
	putObj(t, c, bucket, "x/2", []byte("two"))
	srv.Inject("b2_upload_file", b2test.Fault{Status: 500})
	res, err := Mirror(context.Background(), o)
	if err == nil || res.Failed != 1 || res.Failures[0].Key != "x/2" {
		t.Fatalf("%+v, %v", res, err)
	}
}

func TestDestinationFaultsAreRetried(t *testing.T) {
	c, bucket := newBucket(t)
	putObj(t, c, bucket, "x/1", []byte("one"))
	putObj(t, c, bucket, "x/2", []byte("two"))
	st, srv := newB2(t)
	srv.Inject("b2_upload_file", b2test.Fault{Status: 503, Times: 5})
	res := mirror(t, opts(c, bucket, st, nil))
	if res.Copied != 2 || res.Failed != 0 {
		t.Fatalf("%+v", res.Counts)
	}
	n503 := 0
	for _, r := range srv.Requests() {
		if r.Status == 503 {
			n503++
		}
	}
	if n503 != 5 {
		t.Errorf("%d requests answered 503, want 5", n503)
	}
	sameContent(t, storeContent(t, st, "media/"), map[string]string{"x/1": "one", "x/2": "two"})
}

func TestDryRunChangesNothing(t *testing.T) {
	c, bucket := newBucket(t)
	putObj(t, c, bucket, "new", []byte("n"))
	putObj(t, c, bucket, "same", []byte("s"))
	st := newLocal(t)
	mirror(t, opts(c, bucket, st, nil))
	putObj(t, c, bucket, "new2", []byte("n2"))
	if err := st.Delete(context.Background(), IndexKey("media/")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(context.Background(), "media/gone", strings.NewReader("g")); err != nil {
		t.Fatal(err)
	}
	o := opts(c, bucket, st, nil)
	o.DryRun, o.Delete, o.MaxDelete = true, true, 5
	var log bytes.Buffer
	o.Log = &log
	res := mirror(t, o)
	if res.Copied != 1 || res.CopiedBytes != 2 || res.Deleted != 1 || res.Adopted != 2 {
		t.Fatalf("%+v", res.Counts)
	}
	if !strings.Contains(log.String(), `would delete "media/gone"`) {
		t.Errorf("log: %s", log.String())
	}
	sameContent(t, storeContent(t, st, "media/"), map[string]string{"new": "n", "same": "s", "gone": "g"})
	if hasIndex(t, st) {
		t.Error("dry run wrote an index")
	}
}

func TestAdoptsExistingMirrorWithoutIndex(t *testing.T) {
	c, bucket := newBucket(t)
	putObj(t, c, bucket, "a", []byte("aaa"))
	putObj(t, c, bucket, "b", []byte("bbb"))
	st := newLocal(t)
	mirror(t, opts(c, bucket, st, nil))
	if err := st.Delete(context.Background(), IndexKey("media/")); err != nil {
		t.Fatal(err)
	}
	putObj(t, c, bucket, "b", []byte("bbbb")) // size differs: copied
	res := mirror(t, opts(c, bucket, st, nil))
	if res.Adopted != 1 || res.Copied != 1 {
		t.Fatalf("%+v", res.Counts)
	}
	// Adopted objects are now known by ETag: an in-place change is seen.
	putObj(t, c, bucket, "a", []byte("AAA"))
	if res = mirror(t, opts(c, bucket, st, nil)); res.Copied != 1 || res.Unchanged != 1 {
		t.Fatalf("%+v", res.Counts)
	}
	sameContent(t, storeContent(t, st, "media/"), map[string]string{"a": "AAA", "b": "bbbb"})
}

func newLocal(t *testing.T) *local.Store {
	t.Helper()
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}
