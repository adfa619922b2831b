package b2test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Backblaze/blazer/b2"
)

// rawClient speaks to the server without blazer, to send what blazer never
// would.
type rawClient struct {
	t        *testing.T
	s        *Server
	token    string
	bucketID string
}

func newRaw(t *testing.T) *rawClient {
	t.Helper()
	s := New(t)
	s.CreateBucket(testBucket)
	return newRawOn(t, s)
}

// do sends req, checks the status and decodes a JSON answer into out.
func (rc *rawClient) do(req *http.Request, status int, out any) {
	rc.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		rc.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		rc.t.Fatalf("%s %s: status %d (%s), want %d", req.Method, req.URL.Path, resp.StatusCode, body, status)
	}
	if status != 200 {
		var e struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Status != status || e.Code == "" {
			rc.t.Errorf("error body %s is not a B2 error", body)
		}
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			rc.t.Fatalf("decode %s: %v", body, err)
		}
	}
}

// call POSTs a JSON API call with the account token.
func (rc *rawClient) call(method string, in any, status int, out any) {
	rc.t.Helper()
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest("POST", rc.s.URL+"/b2api/v3/"+method, bytes.NewReader(b))
	req.Header.Set("Authorization", rc.token)
	rc.do(req, status, out)
}

// uploadURL returns an upload URL and token for the bucket (fileID "") or
// for parts of a large file.
func (rc *rawClient) uploadURL(fileID string) (string, string) {
	rc.t.Helper()
	var u struct {
		URL   string `json:"uploadUrl"`
		Token string `json:"authorizationToken"`
	}
	if fileID == "" {
		rc.call("b2_get_upload_url", map[string]any{"bucketId": rc.bucketID}, 200, &u)
	} else {
		rc.call("b2_get_upload_part_url", map[string]any{"fileId": fileID}, 200, &u)
	}
	return u.URL, u.Token
}

// upload POSTs body to url with the given headers.
func (rc *rawClient) upload(url, token string, body []byte, hdr map[string]string, status int) {
	rc.t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Authorization", token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rc.do(req, status, nil)
}

func sha(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestSmallUploadChecks(t *testing.T) {
	rc := newRaw(t)
	url, tok := rc.uploadURL("")
	data := []byte("payload")
	hdr := func(name, sum string) map[string]string {
		return map[string]string{"X-Bz-File-Name": escapeName(name), "X-Bz-Content-Sha1": sum, "Content-Type": "b2/x-auto"}
	}
	rc.upload(url, tok, data, hdr("ok", sha(data)), 200)
	rc.upload(url, tok, data, hdr("bad-sha", sha([]byte("other"))), 400)
	rc.upload(url, tok, data, hdr("no-sha", ""), 400)
	rc.upload(url, tok, append(data, sha(data)...), hdr("at-end", "hex_digits_at_end"), 200)
	rc.upload(url, tok, append(data, sha(nil)...), hdr("at-end-bad", "hex_digits_at_end"), 400)
	rc.upload(url, "nope", data, hdr("bad-token", sha(data)), 401)
	rc.upload(url, rc.token, data, hdr("account-token", sha(data)), 401)
	for _, name := range []string{"/lead", "trail/", "a//b", "back\\slash", "ctl\x01", "del\x7f", strings.Repeat("n", 1025), "\xff"} {
		rc.upload(url, tok, data, hdr(name, sha(data)), 400)
	}
	rc.upload(url, tok, data, hdr(strings.Repeat("n", 1024), sha(data)), 200)
	info := hdr("info", sha(data))
	for i := range 11 {
		info["X-Bz-Info-k"+strconv.Itoa(i)] = "v"
	}
	rc.upload(url, tok, data, info, 400)
	if got, ok := rc.s.Content(testBucket, "at-end"); !ok || string(got) != "payload" {
		t.Errorf("hex_digits_at_end stored %q, %v", got, ok)
	}
	var names []string
	for _, v := range rc.s.Versions(testBucket) {
		names = append(names, v.Name)
	}
	if len(names) != 3 {
		t.Errorf("stored %d files, want 3 (ok, at-end, 1024-byte name)", len(names))
	}
}

func TestAPIAuth(t *testing.T) {
	rc := newRaw(t)
	rc.token = "forged"
	rc.call("b2_list_buckets", map[string]any{"accountId": accountID}, 401, nil)
	req, _ := http.NewRequest("GET", rc.s.URL+"/file/"+testBucket+"/x", nil)
	rc.do(req, 401, nil)
}

// startRaw starts a large file and returns its id.
func (rc *rawClient) startRaw(name string) string {
	rc.t.Helper()
	var f struct {
		ID string `json:"fileId"`
	}
	rc.call("b2_start_large_file", map[string]any{"bucketId": rc.bucketID, "fileName": name, "contentType": "b2/x-auto"}, 200, &f)
	return f.ID
}

// part uploads one part and returns its sha1.
func (rc *rawClient) part(id string, n int, data []byte, status int) string {
	rc.t.Helper()
	url, tok := rc.uploadURL(id)
	rc.upload(url, tok, data, map[string]string{"X-Bz-Part-Number": strconv.Itoa(n), "X-Bz-Content-Sha1": sha(data)}, status)
	return sha(data)
}

func TestLargeFileChecks(t *testing.T) {
	rc := newRaw(t)
	id := rc.startRaw("big")
	rc.part(id, 0, []byte("x"), 400)
	rc.part(id, 10001, []byte("x"), 400)
	url, tok := rc.uploadURL(id)
	rc.upload(url, tok, []byte("x"), map[string]string{"X-Bz-Part-Number": "1", "X-Bz-Content-Sha1": sha(nil)}, 400)
	big := randBytes(minPartSize)
	s1 := rc.part(id, 1, big[:minPartSize-1], 200)
	s2 := rc.part(id, 2, []byte("tail"), 200)
	finish := func(sums []string, status int) {
		rc.call("b2_finish_large_file", map[string]any{"fileId": id, "partSha1Array": sums}, status, nil)
	}
	finish([]string{s1, s2}, 400) // part 1 is one byte short of the minimum
	s1 = rc.part(id, 1, big, 200)
	finish([]string{s2, s1}, 400)     // wrong order
	finish([]string{s1}, 400)         // part 2 left out
	finish([]string{s1, s2, s2}, 400) // part 3 never uploaded
	var parts struct {
		Parts []struct {
			N int `json:"partNumber"`
		} `json:"parts"`
		Next *int `json:"nextPartNumber"`
	}
	rc.call("b2_list_parts", map[string]any{"fileId": id, "startPartNumber": 1, "maxPartCount": 1}, 200, &parts)
	if len(parts.Parts) != 1 || parts.Next == nil || *parts.Next != 2 {
		t.Errorf("list_parts page = %+v", parts)
	}
	finish([]string{s1, s2}, 200)
	got, ok := rc.s.Content(testBucket, "big")
	if !ok || !bytes.Equal(got, append(big, "tail"...)) {
		t.Errorf("assembled %d bytes, ok=%v", len(got), ok)
	}
	finish([]string{s1, s2}, 400) // already finished
}

func TestSmallNonLastPartRejected(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	w := bk.Object("small-parts").NewWriter(ctx)
	w.ChunkSize = 1e6 // below B2's minimum: parts upload, finishing fails
	w.Write(randBytes(2e6 + 1))
	if err := w.Close(); err == nil {
		t.Fatal("Close succeeded with 1 MB parts")
	}
	last := s.Requests()[len(s.Requests())-1]
	if last.Method != "b2_finish_large_file" || last.Status != 400 || last.Name != "small-parts" {
		t.Errorf("last request = %+v", last)
	}
	if _, ok := s.Content(testBucket, "small-parts"); ok {
		t.Error("object visible after a failed finish")
	}
}

func TestRangeEnd(t *testing.T) {
	rc := newRaw(t)
	url, tok := rc.uploadURL("")
	rc.upload(url, tok, []byte("0123456789"), map[string]string{"X-Bz-File-Name": "r", "Content-Type": "text/plain", "X-Bz-Content-Sha1": sha([]byte("0123456789"))}, 200)
	for rng, want := range map[string]int{"bytes=10-19": 416, "bytes=9-19": 206, "bytes=0-": 206, "": 200, "bytes=-3": 206} {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", rc.s.URL+"/file/"+testBucket+"/r", nil)
		req.Header.Set("Authorization", rc.token)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Range %q: %d, want %d", rng, resp.StatusCode, want)
		}
	}
}

func TestUploadNeedsLengthAndType(t *testing.T) {
	rc := newRaw(t)
	url, tok := rc.uploadURL("")
	data := []byte("chunked")
	req, _ := http.NewRequest("POST", url, io.NopCloser(bytes.NewReader(data)))
	req.ContentLength = -1 // sent chunked
	req.Header.Set("Authorization", tok)
	req.Header.Set("X-Bz-File-Name", "c")
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Bz-Content-Sha1", sha(data))
	rc.do(req, http.StatusLengthRequired, nil)
	rc.upload(url, tok, data, map[string]string{"X-Bz-File-Name": "c", "X-Bz-Content-Sha1": sha(data)}, 400)
}

func TestUploadTokenOneAtATime(t *testing.T) {
	rc := newRaw(t)
	url, tok := rc.uploadURL("")
	data := randBytes(50_000)
	hdr := map[string]string{"X-Bz-File-Name": "one", "X-Bz-Content-Sha1": sha(data), "Content-Type": "b2/x-auto"}
	rc.s.Inject("b2_upload_file", Fault{DripBytesPerSec: 100_000, Times: 1})
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest("POST", url, bytes.NewReader(data))
		req.Header.Set("Authorization", tok)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	for !rc.s.tokenBusy(tok) { // the first upload is reading its body
		time.Sleep(time.Millisecond)
	}
	rc.upload(url, tok, data, hdr, 400)
	<-done
	rc.upload(url, tok, data, hdr, 200)
	if n := len(rc.s.Versions(testBucket)); n != 2 {
		t.Errorf("%d versions, want 2", n)
	}
}

func TestPublicBucketAndDownloadToken(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	mustPut(t, ctx, bk, "pub/a", "priv/b")
	tok, err := bk.AuthToken(ctx, "pub/", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(name, auth string) int {
		req, _ := http.NewRequest("GET", s.URL+"/file/"+testBucket+"/"+name, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if a, b, c := fetch("pub/a", tok), fetch("priv/b", tok), fetch("pub/a", ""); a != 200 || b != 401 || c != 401 {
		t.Errorf("download token: %d %d %d, want 200 401 401", a, b, c)
	}
	if err := bk.Update(ctx, &b2.BucketAttrs{Type: b2.Public}); err != nil {
		t.Fatal(err)
	}
	if c := fetch("priv/b", ""); c != 200 {
		t.Errorf("public bucket without token: %d", c)
	}
}

// tokenBusy reports whether an upload is using the token.
func (s *Server) tokenBusy(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[tok] != nil && s.tokens[tok].busy
}
