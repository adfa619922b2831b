package mediasync

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// failingProxy forwards to the shared S3 server but answers every GET of
// one object with 403 AccessDenied, an error minio-go does not retry.
func failingProxy(t *testing.T, bucket, key string) *minio.Client {
	t.Helper()
	target, _ := url.Parse("http://" + s3srv.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target) // keeps the signed Host header
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/"+bucket+"/"+key {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	c, err := minio.New(strings.TrimPrefix(ts.URL, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(s3srv.AccessKeyID, s3srv.SecretAccessKey, ""), Region: s3srv.Region,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFailedCopyBlocksDeletes(t *testing.T) {
	c, bucket := newBucket(t)
	for _, k := range []string{"a", "b", "c"} {
		putObj(t, c, bucket, k, []byte("v-"+k))
	}
	st, _ := newB2(t)
	ctx := context.Background()
	if _, err := st.Put(ctx, "media/orphan", strings.NewReader("o")); err != nil {
		t.Fatal(err)
	}
	mirror(t, opts(c, bucket, st, nil))
	putObj(t, c, bucket, "b", []byte("V-b")) // same size, new content
	putObj(t, c, bucket, "d", []byte("v-d"))

	o := opts(failingProxy(t, bucket, "b"), bucket, st, nil)
	o.Delete, o.MaxDelete = true, 10
	var log bytes.Buffer
	o.Log = &log
	res, err := Mirror(ctx, o)
	if err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("err = %v", err)
	}
	if res.Failed != 1 || len(res.Failures) != 1 || res.Failures[0].Key != "b" || res.Copied != 1 || res.Deleted != 0 {
		t.Fatalf("%+v", res)
	}
	if !strings.Contains(log.String(), `fail "b"`) || !strings.Contains(log.String(), "no deletes") {
		t.Errorf("log: %s", log.String())
	}
	sameContent(t, storeContent(t, st, "media/"), map[string]string{"a": "v-a", "b": "v-b", "c": "v-c", "d": "v-d", "orphan": "o"})

	// The next run, with the source readable, converges and deletes: the
	// failed object kept its old index record, so its same-size change is
	// still seen.
	o.Source.Client = c
	res = mirror(t, o)
	if res.Copied != 1 || res.Unchanged != 3 || res.Deleted != 1 {
		t.Fatalf("second run: %+v", res.Counts)
	}
	sameContent(t, storeContent(t, st, "media/"), map[string]string{"a": "v-a", "b": "V-b", "c": "v-c", "d": "v-d"})
}
