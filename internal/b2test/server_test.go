package b2test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/Backblaze/blazer/b2"
)

const testBucket = "mbackup-test"

// setup starts a server with one bucket and returns a blazer handle on it.
func setup(t *testing.T) (*Server, *b2.Bucket) {
	t.Helper()
	s := New(t)
	s.CreateBucket(testBucket)
	ctx := testCtx(t)
	c, err := b2.NewClient(ctx, s.KeyID, s.AppKey, b2.APIBase(s.URL))
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	bk, err := c.Bucket(ctx, testBucket)
	if err != nil {
		t.Fatalf("Bucket: %v", err)
	}
	return s, bk
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)})
	r.Read(b)
	return b
}

// put writes data under name with a 5e6 chunk size.
func put(ctx context.Context, bk *b2.Bucket, name string, data []byte) error {
	w := bk.Object(name).NewWriter(ctx)
	w.ChunkSize = 5e6
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func get(ctx context.Context, bk *b2.Bucket, name string) ([]byte, error) {
	r := bk.Object(name).NewReader(ctx)
	defer r.Close()
	return io.ReadAll(r)
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		large bool
	}{
		{"empty", 0, false},
		{"one", 1, false},
		{"below-part", 5e6 - 1, false},
		{"exactly-part", 5e6, true},
		{"three-parts-plus-one", 15e6 + 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, bk := setup(t)
			ctx := testCtx(t)
			data := randBytes(tc.size)
			if err := put(ctx, bk, "dir/"+tc.name, data); err != nil {
				t.Fatalf("put: %v", err)
			}
			if got := s.Count("b2_start_large_file") > 0; got != tc.large {
				t.Errorf("large file path = %v, want %v", got, tc.large)
			}
			got, err := get(ctx, bk, "dir/"+tc.name)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get: %d bytes, err %v; want %d bytes", len(got), err, len(data))
			}
			if c, ok := s.Content(testBucket, "dir/"+tc.name); !ok || !bytes.Equal(c, data) {
				t.Errorf("Content: ok=%v, %d bytes", ok, len(c))
			}
			if n := len(s.Unfinished(testBucket)); n != 0 {
				t.Errorf("%d unfinished large files left", n)
			}
			attrs, err := bk.Object("dir/" + tc.name).Attrs(ctx)
			if err != nil || attrs.Size != int64(tc.size) {
				t.Fatalf("Attrs: %+v, %v", attrs, err)
			}
			sum := sha1.Sum(data)
			if want := hex.EncodeToString(sum[:]); !tc.large && attrs.SHA1 != want {
				t.Errorf("SHA1 = %q, want %q", attrs.SHA1, want)
			}
		})
	}
}

func TestDownloadMissingIsNotExist(t *testing.T) {
	_, bk := setup(t)
	ctx := testCtx(t)
	_, err := get(ctx, bk, "nope")
	if !b2.IsNotExist(err) {
		t.Fatalf("get missing: %v, want IsNotExist", err)
	}
}

func TestFileInfoAndRange(t *testing.T) {
	_, bk := setup(t)
	ctx := testCtx(t)
	w := bk.Object("a b+c/ü.txt").NewWriter(ctx, b2.WithAttrsOption(&b2.Attrs{
		ContentType: "text/plain", Info: map[string]string{"Src-Etag": "x y/z"},
	}))
	io.WriteString(w, "hello, world")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	attrs, err := bk.Object("a b+c/ü.txt").Attrs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if attrs.ContentType != "text/plain" || attrs.Info["src-etag"] != "x y/z" {
		t.Errorf("attrs = %+v", attrs)
	}
	r := bk.Object("a b+c/ü.txt").NewRangeReader(ctx, 7, 5)
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "world" {
		t.Errorf("range read = %q, %v", got, err)
	}
}

func TestDeleteVersionAndBucket(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	for _, v := range []string{"v1", "v2"} {
		if err := put(ctx, bk, "k", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := bk.Object("k").Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Content(testBucket, "k"); string(got) != "v1" {
		t.Errorf("after deleting newest: %q, want v1", got)
	}
	if err := bk.Delete(ctx); err == nil {
		t.Error("deleting a non-empty bucket succeeded")
	}
	if err := bk.Object("k").Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if v := s.Versions(testBucket); len(v) != 0 {
		t.Errorf("versions left: %+v", v)
	}
	if err := bk.Delete(ctx); err != nil {
		t.Errorf("delete empty bucket: %v", err)
	}
}

func TestUpdateBucket(t *testing.T) {
	_, bk := setup(t)
	ctx := testCtx(t)
	err := bk.Update(ctx, &b2.BucketAttrs{
		Info:           map[string]string{"purpose": "backups"},
		LifecycleRules: []b2.LifecycleRule{{Prefix: "db/", DaysNewUntilHidden: 14, DaysHiddenUntilDeleted: 1}},
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	attrs, err := bk.Attrs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if attrs.Info["purpose"] != "backups" || len(attrs.LifecycleRules) != 1 || attrs.LifecycleRules[0].Prefix != "db/" {
		t.Errorf("attrs = %+v", attrs)
	}
	// A second update on the same handle, with object lock and encryption.
	err = bk.Update(ctx, &b2.BucketAttrs{
		FileLockEnabled:             true,
		DefaultRetention:            &b2.Retention{Mode: "governance", Period: &b2.RetentionPeriod{Duration: 7, Unit: "days"}},
		DefaultServerSideEncryption: &b2.ServerSideEncryption{Mode: "SSE-B2", Algorithm: "AES256"},
	})
	if err != nil {
		t.Fatalf("second Update: %v", err)
	}
}

func TestBadCredentials(t *testing.T) {
	s := New(t)
	_, err := b2.NewClient(testCtx(t), s.KeyID, "wrong", b2.APIBase(s.URL))
	if err == nil {
		t.Fatal("NewClient with a wrong key succeeded")
	}
	if r := s.Requests(); len(r) != 1 || r[0].Status != 401 {
		t.Errorf("requests = %+v", r)
	}
}

func TestExpiredTokenReauthorizes(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	s.ExpireTokens()
	if err := put(ctx, bk, "k", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n := s.Count("b2_authorize_account"); n != 2 {
		t.Errorf("authorizations = %d, want 2", n)
	}
}

func TestDiscardContent(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	s.DiscardContent(true)
	data := randBytes(12e6)
	if err := put(ctx, bk, "big", data); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Content(testBucket, "big"); ok {
		t.Error("Content of discarded file reported present")
	}
	v := s.Versions(testBucket)
	if len(v) != 1 || v[0].Size != int64(len(data)) || v[0].Action != "upload" {
		t.Errorf("versions = %+v", v)
	}
	if _, err := get(ctx, bk, "big"); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("download of discarded content: %v", err)
	}
}

func TestConcurrentParts(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	data := randBytes(20e6 + 7)
	w := bk.Object("parallel").NewWriter(ctx)
	w.ChunkSize = 5e6
	w.ConcurrentUploads = 3
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.Content(testBucket, "parallel"); !ok || !bytes.Equal(got, data) {
		t.Fatal("parallel upload assembled wrongly")
	}
	if n := s.Count("b2_upload_part"); n != 5 {
		t.Errorf("parts = %d, want 5", n)
	}
	var sent int64
	for _, r := range s.Requests() {
		if r.Method == "b2_upload_part" {
			sent += r.Bytes
		}
	}
	if sent != int64(len(data)) {
		t.Errorf("logged part bytes = %d, want %d", sent, len(data))
	}
}
