package mediasync

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
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
