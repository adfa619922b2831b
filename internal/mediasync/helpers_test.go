package mediasync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/b2test"
	"mbackup/internal/storage"
	"mbackup/internal/storage/b2"
	"mbackup/internal/storage/local"
	"mbackup/internal/testenv"
)

// s3srv is one versitygw shared by the package's tests; each test makes
// its own buckets.
var s3srv *testenv.S3

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mediasync-s3-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s, stop, err := testenv.LaunchS3(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s3srv = s
	code := m.Run()
	stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

var bucketSeq atomic.Int64

// newBucket creates an empty bucket on the shared server.
func newBucket(t *testing.T) (*minio.Client, string) {
	t.Helper()
	c, err := NewSourceClient(s3srv.Endpoint, false, s3srv.Region, s3srv.AccessKeyID, s3srv.SecretAccessKey)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("src-%d-%d", time.Now().UnixNano()%1e6, bucketSeq.Add(1))
	if err := s3srv.CreateBucket(context.Background(), name, false); err != nil {
		t.Fatal(err)
	}
	return c, name
}

func putObj(t *testing.T, c *minio.Client, bucket, key string, data []byte) {
	t.Helper()
	_, err := c.PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("seed %q: %v", key, err)
	}
}

func rmObj(t *testing.T, c *minio.Client, bucket, key string) {
	t.Helper()
	if err := c.RemoveObject(context.Background(), bucket, key, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

// newB2 returns a b2 store on a fake B2 server, under the store prefix "m/".
func newB2(t *testing.T) (storage.Store, *b2test.Server) {
	t.Helper()
	srv := b2test.New(t)
	srv.CreateBucket("b")
	s, err := b2.New(context.Background(), b2.Config{
		KeyID: srv.KeyID, AppKey: srv.AppKey, Bucket: "b", Prefix: "m/",
		ChunkSize: 5_000_000, ConcurrentUploads: 2, APIBase: srv.URL,
		CallTimeout: 5 * time.Second, StallTimeout: 5 * time.Second, UploadRetries: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, srv
}

// opts returns Options for a test run with short retry waits.
func opts(c *minio.Client, bucket string, st storage.Store, log io.Writer) Options {
	return Options{
		Source: Source{Client: c, Bucket: bucket}, Store: st, Prefix: "media/",
		Workers: 4, RetryDelay: 10 * time.Millisecond, Log: log,
	}
}

func mirror(t *testing.T, o Options) Result {
	t.Helper()
	res, err := Mirror(context.Background(), o)
	if err != nil {
		t.Fatalf("mirror: %v (result %+v)", err, res.Counts)
	}
	return res
}

// storeContent reads every object under prefix into a map (small tests only).
func storeContent(t *testing.T, st storage.Store, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	got := map[string]string{}
	err := st.List(ctx, prefix, func(o storage.Object) error {
		rc, err := st.Get(ctx, o.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		got[strings.TrimPrefix(o.Key, prefix)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// bucketContent reads every object of a bucket (small tests only).
func bucketContent(t *testing.T, c *minio.Client, bucket string) map[string]string {
	t.Helper()
	ctx := context.Background()
	got := map[string]string{}
	for oi := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		o, err := c.GetObject(ctx, bucket, oi.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(o)
		o.Close()
		if err != nil {
			// versitygw lists some keys with control characters that it
			// then cannot serve; they are never copied anyway.
			t.Logf("read %q: %v", oi.Key, err)
			got[oi.Key] = "<unreadable>"
			continue
		}
		got[oi.Key] = string(b)
	}
	return got
}

func sameContent(t *testing.T, got, want map[string]string) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !gok:
			t.Errorf("missing %q", k)
		case !wok:
			t.Errorf("unexpected %q", k)
		case g != w:
			t.Errorf("%q: %d bytes differ from the %d expected", k, len(g), len(w))
		}
	}
}

func hasIndex(t *testing.T, st storage.Store) bool {
	t.Helper()
	_, err := st.Stat(context.Background(), IndexKey("media/"))
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func minioPut() minio.PutObjectOptions { return minio.PutObjectOptions{} }

func strconvQuote(s string) string { return strconv.Quote(s) }

func minioStat() minio.StatObjectOptions { return minio.StatObjectOptions{} }

func newLocalDir(tb testing.TB) (*local.Store, error) { return local.New(tb.TempDir()) }
