package b2test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// statuses returns the logged statuses of requests named method.
func statuses(s *Server, method string) []int {
	var out []int
	for _, r := range s.Requests() {
		if r.Method == method {
			out = append(out, r.Status)
		}
	}
	return out
}

func TestFaultStatusOnPartsIsRetried(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	s.Inject("b2_upload_part", Fault{Status: 503, Times: 3})
	data := randBytes(10e6 + 1)
	if err := put(ctx, bk, "retried", data); err != nil {
		t.Fatalf("put: %v", err)
	}
	if got, ok := s.Content(testBucket, "retried"); !ok || !bytes.Equal(got, data) {
		t.Fatal("content differs after retries")
	}
	if n := s.Count("b2_upload_part"); n != 3+3 {
		t.Errorf("b2_upload_part calls = %d, want 3 parts + 3 retries (%v)", n, statuses(s, "b2_upload_part"))
	}
	if n := s.Count("b2_get_upload_part_url"); n != 1+3 {
		t.Errorf("b2_get_upload_part_url calls = %d, want a new URL per retry", n)
	}
}

func TestFaultStatusOnSmallUpload(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	s.Inject("b2_upload_file", Fault{Status: 500, Times: 2})
	if err := put(ctx, bk, "small", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got := statuses(s, "b2_upload_file"); len(got) != 3 || got[0] != 500 || got[2] != 200 {
		t.Errorf("upload statuses = %v", got)
	}
	for _, r := range s.Requests() {
		if r.Method == "b2_upload_file" && r.Name != "small" {
			t.Errorf("upload logged without its name: %+v", r)
		}
	}
}

func TestFaultRetryAfter(t *testing.T) {
	rc := newRaw(t)
	rc.s.Inject("b2_list_file_names", Fault{Status: 429, RetryAfter: 1, Times: 1})
	b := strings.NewReader(`{"bucketId":"` + rc.bucketID + `"}`)
	req, _ := http.NewRequest("POST", rc.s.URL+"/b2api/v3/b2_list_file_names", b)
	req.Header.Set("Authorization", rc.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestFaultRetryAfterHonoured(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	s.Inject("b2_list_file_names", Fault{Status: 429, RetryAfter: 1, Times: 1})
	start := time.Now()
	listed(t, ctx, bk)
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("listing took %v; blazer did not wait for Retry-After", d)
	}
	if got := statuses(s, "b2_list_file_names"); len(got) != 2 || got[0] != 429 || got[1] != 200 {
		t.Errorf("statuses = %v", got)
	}
}

func TestFaultHang(t *testing.T) {
	s, bk := setup(t)
	s.Inject("b2_upload_file", Fault{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := put(ctx, bk, "hung", []byte("x"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("put on a hung server: %v, want deadline exceeded", err)
	}
	// A client without a deadline is released by Close.
	url, tok := newRawOn(t, s).uploadURL("")
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("POST", url, strings.NewReader("x"))
		req.Header.Set("Authorization", tok)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for s.Count("b2_upload_file") < 2 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("hung request got an answer")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("client still hung after Close")
	}
}

// newRawOn authorizes a raw client against an existing server.
func newRawOn(t *testing.T, s *Server) *rawClient {
	t.Helper()
	rc := &rawClient{t: t, s: s}
	req, _ := http.NewRequest("GET", s.URL+"/b2api/v3/b2_authorize_account", nil)
	req.SetBasicAuth(s.KeyID, s.AppKey)
	var auth struct {
		Token string `json:"authorizationToken"`
	}
	rc.do(req, 200, &auth)
	rc.token = auth.Token
	var lb struct {
		Buckets []struct {
			ID string `json:"bucketId"`
		} `json:"buckets"`
	}
	rc.call("b2_list_buckets", map[string]any{"accountId": accountID, "bucketName": testBucket}, 200, &lb)
	rc.bucketID = lb.Buckets[0].ID
	return rc
}

func TestFaultCutUpload(t *testing.T) {
	rc := newRaw(t)
	rc.s.Inject("b2_upload_file", Fault{CutAfter: 1000, Times: 1})
	url, tok := rc.uploadURL("")
	data := randBytes(100_000)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(data))
	req.Header.Set("Authorization", tok)
	req.Header.Set("X-Bz-File-Name", "cut")
	req.Header.Set("X-Bz-Content-Sha1", sha(data))
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("cut upload answered %d", resp.StatusCode)
	}
	r := rc.s.Requests()
	if last := r[len(r)-1]; last.Status != 0 || last.Name != "cut" || last.Bytes < 1000 || last.Bytes >= int64(len(data)) {
		t.Errorf("cut request logged as %+v", last)
	}
	if len(rc.s.Versions(testBucket)) != 0 {
		t.Error("cut upload stored a file")
	}
}

func TestFaultCutRecoveredByBlazer(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	data := randBytes(12e6)
	s.Inject("b2_upload_part", Fault{CutAfter: 1 << 20, Times: 1})
	if err := put(ctx, bk, "cut", data); err != nil {
		t.Fatalf("put: %v", err)
	}
	s.Inject("download", Fault{CutAfter: 1 << 20, Times: 1})
	got, err := get(ctx, bk, "cut")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get after a cut download: %d bytes, %v", len(got), err)
	}
	if got := statuses(s, "b2_upload_part"); len(got) != 4 || got[0]+got[1]+got[2]+got[3] != 600 {
		t.Errorf("part statuses = %v, want one cut (0) and three 200", got)
	}
	if got := statuses(s, "download"); len(got) < 3 {
		t.Errorf("download statuses = %v, want a retry after the cut", got)
	}
	for _, r := range s.Requests() {
		if (r.Method == "b2_upload_part" || r.Method == "download") && r.Name != "cut" {
			t.Errorf("logged without the file name: %+v", r)
		}
	}
}

func TestFaultDrip(t *testing.T) {
	s, bk := setup(t)
	ctx := testCtx(t)
	data := randBytes(100_000)
	s.Inject("b2_upload_file", Fault{DripBytesPerSec: 400_000, Times: 1})
	start := time.Now()
	if err := put(ctx, bk, "slow", data); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("dripped upload of 100 kB at 400 kB/s took %v", d)
	}
	s.Inject("download", Fault{DripBytesPerSec: 400_000})
	start = time.Now()
	got, err := get(ctx, bk, "slow")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("dripped download: %v", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("dripped download took %v", d)
	}
}

func TestFaultTimesAndClear(t *testing.T) {
	rc := newRaw(t)
	rc.s.Inject("*", Fault{Status: 502, Times: 2})
	list := map[string]any{"accountId": accountID}
	rc.call("b2_list_buckets", list, 502, nil)
	rc.call("b2_list_buckets", list, 502, nil)
	rc.call("b2_list_buckets", list, 200, nil)
	rc.s.Inject("b2_list_buckets", Fault{Status: 500})
	for range 3 {
		rc.call("b2_list_buckets", list, 500, nil)
	}
	rc.s.ClearFaults()
	rc.call("b2_list_buckets", list, 200, nil)
	if n := rc.s.Count("b2_list_buckets"); n != 8 {
		t.Errorf("Count = %d, want 8", n)
	}
}

func TestFaultHangDownloadReleasedByContext(t *testing.T) {
	s, bk := setup(t)
	if err := put(testCtx(t), bk, "h", []byte("x")); err != nil {
		t.Fatal(err)
	}
	s.Inject("download", Fault{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r := bk.Object("h").NewReader(ctx)
	defer r.Close()
	if _, err := io.ReadAll(r); err == nil {
		t.Error("read from a hung download succeeded")
	}
}
