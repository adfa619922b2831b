package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/storage"
	"mbackup/internal/storage/storagetest"
	"mbackup/internal/testenv"
)

// srv is the versitygw shared by every test of the package.
var srv *testenv.S3

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		killedPutChild(cfg) // never returns
	}
	dir, err := os.MkdirTemp("", "mbackup-s3-test-")
	if err != nil {
		log.Fatal(err)
	}
	s, stop, err := testenv.LaunchS3(dir)
	if err != nil {
		os.RemoveAll(dir)
		log.Fatal(err)
	}
	srv = s
	code := m.Run()
	stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testConfig is a config for bucket on the shared server.
func testConfig(bucket, prefix string) Config {
	return Config{
		Endpoint:        srv.Endpoint,
		Region:          srv.Region,
		Bucket:          bucket,
		Prefix:          prefix,
		AccessKeyID:     srv.AccessKeyID,
		SecretAccessKey: srv.SecretAccessKey,
		DisableTLS:      true,
		PartSize:        MinPartSize,
	}
}

func newStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawClient talks to the shared server behind the store's back.
func rawClient(t *testing.T) *minio.Client {
	t.Helper()
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// versionCounter counts what the server holds for a key in bucket: every
// version and delete marker, and every unfinished multipart upload.
func versionCounter(bucket string) func(t *testing.T, name string) int {
	return func(t *testing.T, name string) int {
		t.Helper()
		c := rawClient(t)
		n := 0
		opts := minio.ListObjectsOptions{Prefix: name, Recursive: true, WithVersions: true}
		for info := range c.ListObjectsIter(context.Background(), bucket, opts) {
			if info.Err != nil {
				t.Fatalf("list versions of %s: %v", name, info.Err)
			}
			if info.Key == name {
				n++
			}
		}
		return n + incompleteUploads(t, bucket, name)
	}
}

// incompleteUploads counts the unfinished multipart uploads of name.
func incompleteUploads(t *testing.T, bucket, name string) int {
	t.Helper()
	n := 0
	for u := range rawClient(t).ListIncompleteUploads(context.Background(), bucket, name, true) {
		if u.Err != nil {
			t.Fatalf("list uploads of %s: %v", name, u.Err)
		}
		if u.Key == name {
			n++
		}
	}
	return n
}

func TestConformance(t *testing.T) {
	s := newStore(t, testConfig(srv.Bucket, ""))
	storagetest.Run(t, s, storagetest.Options{PartSize: MinPartSize, Versions: versionCounter(srv.Bucket)})
}

// TestConformanceVersioned runs the suite on a bucket with versioning
// enabled, under a prefix: Delete must remove every version.
func TestConformanceVersioned(t *testing.T) {
	const prefix = "instance/a"
	bucket := fmt.Sprintf("mbackup-versioned-%d", time.Now().UnixNano()) // fresh under -count=N
	if err := srv.CreateBucket(context.Background(), bucket, true); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, testConfig(bucket, prefix))
	count := versionCounter(bucket)
	storagetest.Run(t, s, storagetest.Options{
		PartSize: MinPartSize,
		Versions: func(t *testing.T, key string) int { return count(t, prefix+"/"+key) },
	})
}

// TestSmallPutHeap proves the 528 MiB default part of minio-go is avoided:
// a 1 KB Put with the default part size allocates about one part.
func TestSmallPutHeap(t *testing.T) {
	cfg := testConfig(srv.Bucket, "")
	cfg.PartSize = 0 // the default, 16 MiB
	s := newStore(t, cfg)
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := s.Put(ctx, "heap/small", bytes.NewReader(make([]byte, 1000))); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	inuse := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("1 KB Put with %d MiB parts: TotalAlloc +%.1f MiB, HeapInuse %+.1f MiB",
		DefaultPartSize>>20, float64(alloc)/(1<<20), float64(inuse)/(1<<20))
	if alloc >= 64<<20 || inuse >= 64<<20 {
		t.Errorf("a 1 KB Put allocated %d bytes (heap in use %+d): the part size is not applied", alloc, inuse)
	}
	if err := s.Delete(ctx, "heap/small"); err != nil {
		t.Fatal(err)
	}
}

func TestListNested(t *testing.T) {
	s := newStore(t, testConfig(srv.Bucket, "nested"))
	ctx := context.Background()
	keys := []string{"a/b/c", "a/b/d/e", "a/bc", "a/x/y/z/w", "top"}
	for _, k := range keys {
		if _, err := s.Put(ctx, k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	err := s.List(ctx, "", func(o storage.Object) error {
		got = append(got, o.Key)
		return nil
	})
	if err != nil || !slices.Equal(got, keys) {
		t.Errorf("List = %q, %v; want %q", got, err, keys)
	}
	for _, k := range keys {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
}

func TestListSkipsForeignObjects(t *testing.T) {
	c := rawClient(t)
	ctx := context.Background()
	for _, k := range []string{"foreign/folder/", "foreign/ok"} {
		if _, err := c.PutObject(ctx, srv.Bucket, k, strings.NewReader(""), 0, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		defer c.RemoveObject(ctx, srv.Bucket, k, minio.RemoveObjectOptions{})
	}
	s := newStore(t, testConfig(srv.Bucket, ""))
	var got []string
	if err := s.List(ctx, "foreign/", func(o storage.Object) error { got = append(got, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"foreign/ok"}) {
		t.Errorf("List = %q; want only the valid key", got)
	}
}

func TestGetMissing(t *testing.T) {
	s := newStore(t, testConfig(srv.Bucket, ""))
	rc, err := s.Get(context.Background(), "missing/key")
	if err == nil {
		rc.Close()
		t.Fatal("Get of a missing key succeeded")
	}
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "s3: get missing/key: ") {
		t.Errorf("Get error = %q; want s3: get missing/key: ... wrapping fs.ErrNotExist", err)
	}
}

func TestWrongCredentials(t *testing.T) {
	const secret = "not-the-secret-4f9a1c"
	ctx := context.Background()
	for _, c := range []struct{ name, id, secret string }{
		{"wrong secret", srv.AccessKeyID, secret},
		{"unknown key id", "nobody", secret},
	} {
		cfg := testConfig(srv.Bucket, "")
		cfg.AccessKeyID, cfg.SecretAccessKey, cfg.MaxRetries = c.id, c.secret, 1
		s := newStore(t, cfg)
		_, putErr := s.Put(ctx, "creds/x", strings.NewReader("x"))
		_, statErr := s.Stat(ctx, "creds/x")
		_, getErr := s.Get(ctx, "creds/x")
		listErr := s.List(ctx, "", func(storage.Object) error { return nil })
		delErr := s.Delete(ctx, "creds/x")
		errs := []error{putErr, statErr, getErr, listErr, delErr}
		if c.id == "nobody" {
			// versitygw answers an unknown key id with a 404, which a HEAD
			// (no body) cannot tell from a missing key; S3 answers 403.
			t.Logf("%s: Stat = %v", c.name, statErr)
			errs = slices.Delete(errs, 1, 2)
		}
		for _, err := range errs {
			switch {
			case err == nil:
				t.Errorf("%s: a call succeeded", c.name)
			case errors.Is(err, fs.ErrNotExist):
				t.Errorf("%s: %v: reported as a missing key", c.name, err)
			case strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprint(cfg), secret):
				t.Errorf("%s: the secret leaks: %v", c.name, err)
			case !strings.Contains(err.Error(), "access denied"):
				t.Errorf("%s: error %q does not say access denied", c.name, err)
			}
		}
		t.Logf("%s: %v", c.name, putErr)
	}
}

func TestConfigHidesSecret(t *testing.T) {
	cfg := testConfig(srv.Bucket, "p")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, cfg); strings.Contains(out, cfg.SecretAccessKey) {
			t.Errorf("%s prints the secret: %s", verb, out)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"scheme":      func(c *Config) { c.Endpoint = "http://" + c.Endpoint },
		"no bucket":   func(c *Config) { c.Bucket = "" },
		"no secret":   func(c *Config) { c.SecretAccessKey = "" },
		"small parts": func(c *Config) { c.PartSize = MinPartSize - 1 },
		"bad prefix":  func(c *Config) { c.Prefix = "/abs" },
		"dot prefix":  func(c *Config) { c.Prefix = "a/../b" },
	} {
		cfg := testConfig(srv.Bucket, "")
		mod(&cfg)
		if _, err := New(context.Background(), cfg); err == nil {
			t.Errorf("%s: New accepted %v", name, cfg)
		} else if strings.Contains(err.Error(), srv.SecretAccessKey) {
			t.Errorf("%s: error leaks the secret: %v", name, err)
		}
	}
}

// failAfter yields n bytes of r, then its last Read returns err along with
// data, and every later Read returns after (io.EOF when nil).
type failAfter struct {
	r     io.Reader
	err   error
	after error
	done  bool
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.done {
		if f.after != nil {
			return 0, f.after
		}
		return 0, io.EOF
	}
	n, err := f.r.Read(p)
	if err == io.EOF || f.r.(*bytes.Reader).Len() == 0 {
		f.done = true
		return n, f.err
	}
	return n, err
}

// TestPutReaderErrorsMinioWouldLose feeds Put readers whose errors
// minio-go's part reader mistakes for the end of the stream or drops; none
// may commit an object.
func TestPutReaderErrorsMinioWouldLose(t *testing.T) {
	s := newStore(t, testConfig(srv.Bucket, ""))
	ctx := context.Background()
	cases := []struct {
		name string
		n    int
		r    func(b []byte) io.Reader
	}{
		{"unexpected EOF mid part", MinPartSize + 10, func(b []byte) io.Reader {
			return &failAfter{r: bytes.NewReader(b), err: io.ErrUnexpectedEOF, after: io.ErrUnexpectedEOF}
		}},
		{"error with a full part, then EOF", MinPartSize, func(b []byte) io.Reader {
			return &failAfter{r: bytes.NewReader(b), err: errors.New("lost"), after: nil}
		}},
	}
	for _, c := range cases {
		key := "lost/" + strings.ReplaceAll(c.name, " ", "-")
		_, err := s.Put(ctx, key, c.r(make([]byte, c.n)))
		if err == nil {
			t.Errorf("%s: Put succeeded", c.name)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: after the failed Put, Stat = %v; want fs.ErrNotExist", c.name, err)
			_ = s.Delete(ctx, key)
		}
		if n := incompleteUploads(t, srv.Bucket, key); n != 0 {
			t.Errorf("%s: %d multipart uploads left behind", c.name, n)
		}
	}
}

// TestFailedPutAbortsUpload checks that the parts of a failed or cancelled
// multipart upload are not left on the server.
func TestFailedPutAbortsUpload(t *testing.T) {
	s := newStore(t, testConfig(srv.Bucket, ""))
	ctx, cancel := context.WithCancel(context.Background())
	r := bytes.NewReader(make([]byte, 2*MinPartSize+1))
	calls := 0
	_, err := s.Put(ctx, "abort/cancelled", readerFunc(func(p []byte) (int, error) {
		if calls++; calls == 200 { // 200 × 32 KiB: in the second part
			cancel()
		}
		return r.Read(p[:min(len(p), 32<<10)])
	}))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Put = %v; want context.Canceled", err)
	}
	if n := incompleteUploads(t, srv.Bucket, "abort/cancelled"); n != 0 {
		t.Errorf("cancelled Put left %d multipart uploads", n)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// within fails t if f does not return within d.
func within[T any](t *testing.T, d time.Duration, what string, f func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s still running after %v: it hangs", what, d)
		panic("unreachable")
	}
}
