package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"sync"
	"testing"
)

// countingProxy forwards HTTP requests to the shared server and counts
// them by method and by whether they carry an uploadId (multipart).
type countingProxy struct {
	mu    sync.Mutex
	count map[string]int
	srv   *httptest.Server
}

func newCountingProxy(t *testing.T) *countingProxy {
	t.Helper()
	target, err := url.Parse("http://" + srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &countingProxy{count: map[string]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := r.Method
		if r.URL.Query().Has("uploadId") || r.URL.Query().Has("uploads") {
			k += " multipart"
		}
		p.mu.Lock()
		p.count[k]++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// take returns the counts so far and starts again from zero.
func (p *countingProxy) take() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.count
	p.count = map[string]int{}
	return c
}

func (p *countingProxy) store(t *testing.T) *Store {
	cfg := testConfig(srv.Bucket, "counted")
	cfg.Endpoint = p.srv.Listener.Addr().String()
	return newStore(t, cfg)
}

func readAll(t *testing.T, s *Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
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

// TestPutRequests counts the requests of each way of storing an object:
// below one part, one PUT; above, a multipart upload.
func TestPutRequests(t *testing.T) {
	p := newCountingProxy(t)
	s := p.store(t)
	ctx := context.Background()
	small := randBytes(1000)
	big := randBytes(MinPartSize + 1)
	cases := []struct {
		name string
		put  func(key string, b []byte) error
		data []byte
		want map[string]int
	}{
		{"Put small", func(k string, b []byte) error { _, err := s.Put(ctx, k, slowReader(b)); return err }, small,
			map[string]int{"PUT": 1}},
		{"PutSized small", func(k string, b []byte) error {
			_, err := s.PutSized(ctx, k, slowReader(b), int64(len(b)))
			return err
		}, small, map[string]int{"PUT": 1}},
		{"PutSized empty", func(k string, b []byte) error { _, err := s.PutSized(ctx, k, slowReader(b), 0); return err }, nil,
			map[string]int{"PUT": 1}},
		{"Put one part exactly", func(k string, b []byte) error { _, err := s.Put(ctx, k, slowReader(b)); return err }, big[:MinPartSize],
			map[string]int{"POST multipart": 2, "PUT multipart": 1}},
		{"PutSized two parts", func(k string, b []byte) error {
			_, err := s.PutSized(ctx, k, slowReader(b), int64(len(b)))
			return err
		}, big, map[string]int{"POST multipart": 2, "PUT multipart": 2}},
	}
	for _, c := range cases {
		key := "req/" + c.name
		p.take()
		if err := c.put(key, c.data); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := p.take()
		if len(got) != len(c.want) {
			t.Errorf("%s: requests %v; want %v", c.name, got, c.want)
		}
		for k, n := range c.want {
			if got[k] != n {
				t.Errorf("%s: requests %v; want %v", c.name, got, c.want)
			}
		}
		if b := readAll(t, s, key); !bytes.Equal(b, c.data) {
			t.Errorf("%s: stored %d bytes, not the %d put", c.name, len(b), len(c.data))
		}
	}
}

// TestPutSizedWrongSize: a reader with fewer or more bytes than announced,
// or one that fails, stores nothing and keeps the previous object.
func TestPutSizedWrongSize(t *testing.T) {
	s := newStore(t, testConfig(srv.Bucket, "sized"))
	ctx := context.Background()
	prev := []byte("previous")
	for _, size := range []int64{100, MinPartSize + 100} {
		data := randBytes(int(size))
		cases := []struct {
			name string
			r    io.Reader
		}{
			{"short", bytes.NewReader(data[:size-1])},
			{"long", io.MultiReader(bytes.NewReader(data), bytes.NewReader([]byte{1}))},
			{"failing", &failAfter{r: bytes.NewReader(data[:size/2]), err: errors.New("source gone"), after: errors.New("source gone")}},
		}
		for _, c := range cases {
			key := "wrong/" + c.name
			if _, err := s.Put(ctx, key, bytes.NewReader(prev)); err != nil {
				t.Fatal(err)
			}
			_, err := s.PutSized(ctx, key, c.r, size)
			if err == nil {
				t.Errorf("size %d, %s reader: PutSized succeeded", size, c.name)
			}
			if b := readAll(t, s, key); !bytes.Equal(b, prev) {
				t.Errorf("size %d, %s reader: the store holds %d bytes, not the previous object", size, c.name, len(b))
			}
			if n := incompleteUploads(t, srv.Bucket, "sized/"+key); n != 0 {
				t.Errorf("size %d, %s reader: %d multipart uploads left", size, c.name, n)
			}
		}
	}
}

// TestPartBuf fills a partBuf from readers of every read size and reads it
// back, with seeks, across chunk boundaries.
func TestPartBuf(t *testing.T) {
	const limit = 3*maxChunk + 5
	for _, n := range []int{0, 1, firstChunk - 1, firstChunk, firstChunk + 1, maxChunk, maxChunk + 1, limit - 1, limit, limit + 7} {
		data := randBytes(n)
		b := newPartBuf(limit)
		err := b.fill(slowReader(data))
		held := min(n, limit)
		switch {
		case n < limit && err != io.EOF, n >= limit && err != nil:
			t.Fatalf("%d bytes: fill = %v", n, err)
		case b.n != held:
			t.Fatalf("%d bytes: holds %d", n, b.n)
		case b.capacity() > held+maxChunk && b.capacity() > firstChunk:
			t.Errorf("%d bytes: %d bytes allocated", n, b.capacity())
		}
		r := b.reader()
		got, _ := io.ReadAll(r)
		if !bytes.Equal(got, data[:held]) {
			t.Fatalf("%d bytes: read back differs", n)
		}
		if held > 10 {
			if _, err := r.Seek(int64(held-10), io.SeekStart); err != nil {
				t.Fatal(err)
			}
			got, _ = io.ReadAll(r)
			if !bytes.Equal(got, data[held-10:held]) {
				t.Errorf("%d bytes: read after seek differs", n)
			}
		}
		if _, err := r.Seek(int64(held+1), io.SeekStart); err == nil {
			t.Errorf("%d bytes: seek beyond the end succeeded", n)
		}
	}
}

// TestSmallPutSizedHeap: storing a 1 KB object allocates far less than a
// part, with either Put or PutSized.
func TestSmallPutSizedHeap(t *testing.T) {
	cfg := testConfig(srv.Bucket, "")
	cfg.PartSize = 0 // the default, 16 MiB
	s := newStore(t, cfg)
	ctx := context.Background()
	for _, sized := range []bool{false, true} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var err error
		if sized {
			_, err = s.PutSized(ctx, "heap/sized", bytes.NewReader(make([]byte, 1000)), 1000)
		} else {
			_, err = s.Put(ctx, "heap/sized", bytes.NewReader(make([]byte, 1000)))
		}
		if err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc >= 4<<20 {
			t.Errorf("a 1 KB put (sized %v) allocated %d bytes: a part buffer", sized, alloc)
		}
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.IntN(256))
	}
	return b
}

// slowReader yields b in reads of at most 7,000 bytes.
func slowReader(b []byte) io.Reader {
	r := bytes.NewReader(b)
	return readerFunc(func(p []byte) (int, error) { return r.Read(p[:min(len(p), 7000)]) })
}
