package mediasync

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"mbackup/internal/storage"
)

func TestIndexRoundTrip(t *testing.T) {
	st := newLocal(t)
	ctx := context.Background()
	want := []entry{
		{key: "", size: 0, etag: ""},
		{key: "a\tb", size: 1, etag: `"quoted"`},
		{key: "line\nbreak", size: 2, etag: "abc-3"},
		{key: "ñ/日本", size: 1 << 40, etag: "x"},
		{key: "\xff", size: 3, etag: "\t"},
	}
	iw, err := newIndexWriter(ctx, st, "media.index.zst")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range want {
		if err := iw.add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := iw.commit(); err != nil {
		t.Fatal(err)
	}
	s, closeIdx, err := openIndex(ctx, st, "media.index.zst")
	if err != nil {
		t.Fatal(err)
	}
	defer closeIdx()
	var got []entry
	for {
		if err := s.advance(); err != nil {
			t.Fatal(err)
		}
		if !s.ok {
			break
		}
		got = append(got, s.head)
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestAbortedIndexLeavesTheOldOne(t *testing.T) {
	st := newLocal(t)
	ctx := context.Background()
	iw, _ := newIndexWriter(ctx, st, "media.index.zst")
	iw.add(entry{key: "old", size: 1, etag: "e"})
	if err := iw.commit(); err != nil {
		t.Fatal(err)
	}
	before := readAll(t, st, "media.index.zst")
	iw, _ = newIndexWriter(ctx, st, "media.index.zst")
	iw.add(entry{key: "new", size: 1, etag: "e"})
	iw.abort(errors.New("listing failed"))
	if after := readAll(t, st, "media.index.zst"); !bytes.Equal(before, after) {
		t.Error("aborted index replaced the old one")
	}
}

func TestBadIndexStopsTheRun(t *testing.T) {
	for name, content := range map[string]string{
		"header":   "something else\n",
		"fields":   indexHeader + "\n\"a\"\t1\n",
		"order":    indexHeader + "\n\"b\"\t1\t\"e\"\n\"a\"\t1\t\"e\"\n",
		"quote":    indexHeader + "\na\t1\t\"e\"\n",
		"negative": indexHeader + "\n\"a\"\t-1\t\"e\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			st := newLocal(t)
			var b bytes.Buffer
			zw, _ := zstd.NewWriter(&b)
			zw.Write([]byte(content))
			zw.Close()
			if _, err := st.Put(context.Background(), IndexKey("media/"), &b); err != nil {
				t.Fatal(err)
			}
			c := newFakeS3([]string{"a", "b"}, map[string]string{"a": "1", "b": "2"}).start(t)
			o := opts(c, "bkt", st, nil)
			o.Delete, o.MaxDelete = true, 10
			_, err := Mirror(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), "index") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func readAll(t *testing.T, st interface {
	Get(context.Context, string) (io.ReadCloser, error)
}, key string) []byte {
	t.Helper()
	rc, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// indexRecords reads the index under media/ back.
func indexRecords(t *testing.T, st storage.Store) []entry {
	t.Helper()
	s, closeIdx, err := openIndex(context.Background(), st, IndexKey("media/"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeIdx()
	var got []entry
	for {
		if err := s.advance(); err != nil {
			t.Fatal(err)
		}
		if !s.ok {
			return got
		}
		got = append(got, s.head)
	}
}

func indexModified(t *testing.T, st storage.Store) time.Time {
	t.Helper()
	o, err := st.Stat(context.Background(), IndexKey("media/"))
	if err != nil {
		t.Fatal(err)
	}
	return o.Modified
}

// TestUnchangedIndexIsNotRewritten: a run that changes nothing leaves the
// index as it is, until it is older than indexRefresh; a change anywhere
// (a new key at the end, a dropped record in the middle) gives the same
// index a full rewrite would.
func TestUnchangedIndexIsNotRewritten(t *testing.T) {
	keys := []string{"a", "b", "c", "d"}
	bodies := map[string]string{"a": "1", "b": "22", "c": "333", "d": "4444"}
	st := newLocal(t)
	c := newFakeS3(keys, bodies).start(t)
	mirror(t, opts(c, "bkt", st, nil))
	first := indexRecords(t, st)
	if len(first) != 4 {
		t.Fatalf("first index %+v", first)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	dir := st.Root() // the local store's directory
	if err := os.Chtimes(filepath.Join(dir, IndexKey("media/")), old, old); err != nil {
		t.Fatal(err)
	}
	res := mirror(t, opts(c, "bkt", st, nil))
	if res.Unchanged != 4 || !indexModified(t, st).Equal(old) {
		t.Fatalf("no-op run rewrote the index (%+v, modified %v)", res.Counts, indexModified(t, st))
	}

	stale := time.Now().Add(-indexRefresh - time.Minute)
	if err := os.Chtimes(filepath.Join(dir, IndexKey("media/")), stale, stale); err != nil {
		t.Fatal(err)
	}
	mirror(t, opts(c, "bkt", st, nil))
	if m := indexModified(t, st); !m.After(stale.Add(time.Minute)) {
		t.Fatalf("an index older than %v was not rewritten (modified %v)", indexRefresh, m)
	}
	if got := indexRecords(t, st); !slices.Equal(got, first) {
		t.Fatalf("refreshed index %+v, want %+v", got, first)
	}

	// "b" gone from the source and the store: its record is dropped; "e"
	// is new at the end.
	if err := st.Delete(context.Background(), "media/b"); err != nil {
		t.Fatal(err)
	}
	keys = []string{"a", "c", "d", "e"}
	bodies["e"] = "55555"
	c = newFakeS3(keys, bodies).start(t)
	res = mirror(t, opts(c, "bkt", st, nil))
	if res.Copied != 1 {
		t.Fatalf("%+v", res.Counts)
	}
	want := []entry{first[0], first[2], first[3], {key: "e", size: 5, etag: etagOf("55555")}}
	if got := indexRecords(t, st); !slices.Equal(got, want) {
		t.Fatalf("index %+v, want %+v", got, want)
	}
}

// TestIndexUpdateFailures: an old index that reads back shorter than it
// did, and one that is gone when an unchanged run stats it, fail the
// commit and leave no new index.
func TestIndexUpdateFailures(t *testing.T) {
	ctx := context.Background()
	key := IndexKey("media/")
	recs := []entry{{key: "a", size: 1, etag: "e"}, {key: "b", size: 2, etag: "e"}}
	write := func(st storage.Store, es []entry) {
		iw, err := newIndexWriter(ctx, st, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			iw.add(e)
		}
		if err := iw.commit(); err != nil {
			t.Fatal(err)
		}
	}

	st := newLocal(t)
	write(st, recs)
	u := newIndexUpdate(ctx, st, key, true)
	for _, e := range recs {
		if err := u.add(e, true, &e); err != nil {
			t.Fatal(err)
		}
	}
	write(st, recs[:1]) // shrinks under the run
	c := entry{key: "c", size: 3, etag: "e"}
	err := u.add(c, true, nil)
	if !errors.Is(err, errIndexShrank) {
		t.Fatalf("err = %v, want %v", err, errIndexShrank)
	}
	u.abort(err)
	if got := indexRecords(t, st); !slices.Equal(got, recs[:1]) {
		t.Fatalf("index after a failed update: %+v", got)
	}

	st = newLocal(t)
	write(st, recs)
	u = newIndexUpdate(ctx, st, key, true)
	if err := st.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := u.commit(); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "stat index") {
		t.Fatalf("err = %v", err)
	}
}
