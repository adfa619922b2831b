package mediasync

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// fakeS3 synthesises ListObjectsV2 pages of n keys, in whatever order key
// gives them, and serves GETs of the objects in bodies. It checks no
// signature. It exists for what a real server won't do: list out of order,
// list keys a real server normalises, list a million keys cheaply, stall
// in the middle of a body.
type fakeS3 struct {
	n      int
	key    func(i int) string
	size   func(i int) int64
	bodies map[string]string
	lists  atomic.Int64

	// stallGet names the objects whose GET sends the headers and half the
	// body, then nothing until the client goes away; stallList does the
	// same to every listing.
	stallGet  map[string]bool
	stallList bool
	stalls    atomic.Int64  // responses left hanging
	release   chan struct{} // closed when the test ends: hanging responses end
	// tr is the client's transport, own to the test so that its idle
	// connections can be closed.
	tr  *http.Transport
	url string // the server's
}

// newFakeS3 serves the given objects, listed in the order of keys.
func newFakeS3(keys []string, bodies map[string]string) *fakeS3 {
	return &fakeS3{
		n: len(keys), key: func(i int) string { return keys[i] },
		size:   func(i int) int64 { return int64(len(bodies[keys[i]])) },
		bodies: bodies,
	}
}

func etagOf(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func (f *fakeS3) start(t testing.TB) *minio.Client {
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	f.url = ts.URL
	f.release = make(chan struct{})
	t.Cleanup(func() { close(f.release) }) // before ts.Close waits for them
	f.tr = SourceTransport(false)
	t.Cleanup(f.tr.CloseIdleConnections)
	c, err := minio.New(strings.TrimPrefix(ts.URL, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4("k", "s", ""), Region: "us-east-1", Transport: f.tr,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && key == "" && r.URL.Query().Get("list-type") == "2":
		f.list(w, r, bucket)
	case r.Method == http.MethodGet && key != "":
		body, ok := f.bodies[key]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>`)
			return
		}
		w.Header().Set("ETag", `"`+etagOf(body)+`"`)
		w.Header().Set("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if f.stallGet[key] {
			f.stallMidBody(w, r, body)
			return
		}
		fmt.Fprint(w, body)
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

func (f *fakeS3) list(w http.ResponseWriter, r *http.Request, bucket string) {
	f.lists.Add(1)
	start, _ := strconv.Atoi(r.URL.Query().Get("continuation-token"))
	end := min(start+1000, f.n)
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>%s</Name><Prefix></Prefix><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys>`, bucket, end-start)
	if end < f.n {
		fmt.Fprintf(&b, `<IsTruncated>true</IsTruncated><NextContinuationToken>%d</NextContinuationToken>`, end)
	} else {
		b.WriteString(`<IsTruncated>false</IsTruncated>`)
	}
	for i := start; i < end; i++ {
		k := f.key(i)
		etag := etagOf(k)
		if body, ok := f.bodies[k]; ok {
			etag = etagOf(body)
		}
		b.WriteString("<Contents><Key>")
		xml.EscapeText(&b, []byte(k))
		fmt.Fprintf(&b, `</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"%s"</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>`, etag, f.size(i))
	}
	b.WriteString("</ListBucketResult>")
	w.Header().Set("Content-Type", "application/xml")
	if f.stallList {
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		f.stallMidBody(w, r, b.String())
		return
	}
	fmt.Fprint(w, b.String())
}

// stallMidBody sends the headers and the first half of body, then nothing
// until the client closes the connection or the test ends.
func (f *fakeS3) stallMidBody(w http.ResponseWriter, r *http.Request, body string) {
	f.stalls.Add(1)
	fmt.Fprint(w, body[:len(body)/2])
	w.(http.Flusher).Flush()
	select {
	case <-r.Context().Done():
	case <-f.release:
	}
}
