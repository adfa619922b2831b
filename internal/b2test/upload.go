package b2test

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// body is an upload's verified content.
type body struct {
	size      int64
	sha1      string
	data      []byte
	discarded bool // only size and sha1 were kept
}

// readBody reads an upload's body of Content-Length bytes and checks it
// against X-Bz-Content-Sha1 (40 hex digits, "hex_digits_at_end",
// "do_not_verify" or "unverified:<hex>").
func (s *Server) readBody(c *call) (*body, error) {
	if c.r.ContentLength < 0 || c.r.Header.Get("Content-Length") == "" {
		return nil, &apiError{status: http.StatusLengthRequired, code: "bad_request", msg: "Content-Length is required"}
	}
	if c.r.ContentLength > maxUploadSize {
		return nil, badRequest("content is larger than %d bytes", int64(maxUploadSize))
	}
	want := strings.ToLower(c.r.Header.Get("X-Bz-Content-Sha1"))
	size := c.r.ContentLength
	if want == "hex_digits_at_end" {
		if size < 40 {
			return nil, badRequest("content too short for hex_digits_at_end")
		}
		size -= 40
	} else if want == "" {
		return nil, badRequest("X-Bz-Content-Sha1 is required")
	}
	s.mu.Lock()
	keep := !s.discard
	s.mu.Unlock()
	h := sha1.New()
	var buf *bytes.Buffer
	dst := io.Writer(h)
	if keep {
		buf = bytes.NewBuffer(make([]byte, 0, min(size, 64<<20)))
		dst = io.MultiWriter(h, buf)
	}
	if _, err := io.CopyN(dst, c.r.Body, size); err != nil {
		return nil, badRequest("reading content: %v", err)
	}
	if want == "hex_digits_at_end" {
		tail := make([]byte, 40)
		if _, err := io.ReadFull(c.r.Body, tail); err != nil {
			return nil, badRequest("reading trailing sha1: %v", err)
		}
		want = strings.ToLower(string(tail))
	}
	got := hex.EncodeToString(h.Sum(nil))
	want = strings.TrimPrefix(want, "unverified:")
	if want != got && want != "do_not_verify" {
		return nil, badRequest("Sha1 did not match data received")
	}
	b := &body{size: size, sha1: got, discarded: !keep}
	if keep {
		b.data = buf.Bytes()
	}
	return b, nil
}

// uploadFile serves POST {uploadUrl} (b2_upload_file).
func (s *Server) uploadFile(c *call) error {
	bucketID := strings.TrimPrefix(c.r.URL.Path, uploadPrefix)
	name, err := url.QueryUnescape(c.r.Header.Get("X-Bz-File-Name"))
	if err != nil {
		return badRequest("X-Bz-File-Name is not percent-encoded: %v", err)
	}
	c.name = name
	release, err := s.acquireUpload(c, uploadToken, bucketID)
	if err != nil {
		return err
	}
	defer release()
	if err := checkName(name); err != nil {
		return err
	}
	if c.r.Header.Get("Content-Type") == "" {
		return badRequest("Content-Type is required")
	}
	info, err := infoHeaders(c.r.Header)
	if err != nil {
		return err
	}
	mode, until, err := retentionHeaders(c.r.Header)
	if err != nil {
		return err
	}
	b, err := s.readBody(c)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	bk := s.bucketByID(bucketID)
	if bk == nil {
		return badRequest("bucket %s does not exist", bucketID)
	}
	if err := s.checkCap(b.size); err != nil {
		return err
	}
	f := &file{bucket: bk, uploaded: s.now()}
	if err := s.uploadRetention(f, mode, until); err != nil {
		return err
	}
	lockMode, retainUntil := f.lockMode, f.retainUntil
	f = s.newFile(bk, name, "upload")
	f.lockMode, f.retainUntil = lockMode, retainUntil
	f.size, f.sha1, f.data, f.discarded = b.size, b.sha1, b.data, b.discarded
	f.contentType = contentType(c.r.Header.Get("Content-Type"))
	f.info = info
	c.ok(s.fileJSON(f))
	return nil
}

// contentType maps B2's "b2/x-auto" and an empty type to a concrete one.
func contentType(ct string) string {
	if ct == "" || ct == "b2/x-auto" {
		return "application/octet-stream"
	}
	return ct
}

// infoHeaders collects X-Bz-Info-* headers; names are kept lower-case, as
// B2 reports them.
func infoHeaders(h http.Header) (map[string]string, error) {
	info := map[string]string{}
	for k, vs := range h {
		if !strings.HasPrefix(k, "X-Bz-Info-") || len(vs) == 0 {
			continue
		}
		name, err := url.QueryUnescape(strings.TrimPrefix(k, "X-Bz-Info-"))
		if err != nil {
			return nil, badRequest("bad file info name %q", k)
		}
		val, err := url.QueryUnescape(vs[0])
		if err != nil {
			return nil, badRequest("bad file info value for %q", name)
		}
		info[strings.ToLower(name)] = val
	}
	return info, checkInfo(info)
}

// uploadPart serves POST {partUploadUrl} (b2_upload_part).
func (s *Server) uploadPart(c *call) error {
	fileID := strings.TrimPrefix(c.r.URL.Path, partPrefix)
	release, err := s.acquireUpload(c, partToken, fileID)
	if err != nil {
		return err
	}
	defer release()
	s.mu.Lock()
	f, err := s.unfinishedFile(c, fileID)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(c.r.Header.Get("X-Bz-Part-Number"))
	if err != nil || n < 1 || n > maxParts {
		return badRequest("X-Bz-Part-Number must be 1..%d", maxParts)
	}
	b, err := s.readBody(c)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files[fileID] != f || f.action != "start" {
		return badRequest("large file %s was finished or cancelled", fileID)
	}
	if err := s.checkCap(b.size); err != nil {
		return err
	}
	f.parts[n] = &part{size: b.size, sha1: b.sha1, data: b.data, discarded: b.discarded}
	c.ok(map[string]any{
		"fileId": fileID, "partNumber": n, "contentLength": b.size,
		"contentSha1": b.sha1, "contentMd5": nil, "uploadTimestamp": s.now().UnixMilli(),
	})
	return nil
}

// startLargeFile serves b2_start_large_file.
func (s *Server) startLargeFile(c *call) error {
	var req struct {
		BucketID    string            `json:"bucketId"`
		Name        string            `json:"fileName"`
		ContentType string            `json:"contentType"`
		Info        map[string]string `json:"fileInfo"`
		Retention   *fileRetention    `json:"fileRetention"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	c.name = req.Name
	if err := checkName(req.Name); err != nil {
		return err
	}
	info := map[string]string{}
	for k, v := range req.Info {
		info[strings.ToLower(k)] = v
	}
	if err := checkInfo(info); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	bk := s.bucketByID(req.BucketID)
	if bk == nil {
		return badRequest("invalid bucketId: %s", req.BucketID)
	}
	probe := &file{bucket: bk, uploaded: s.now()}
	if err := s.uploadRetention(probe, req.Retention.mode(), req.Retention.until()); err != nil {
		return err
	}
	f := s.newFile(bk, req.Name, "start")
	f.lockMode, f.retainUntil = probe.lockMode, probe.retainUntil
	f.sha1 = "none"
	f.contentType = contentType(req.ContentType)
	f.info = info
	f.parts = map[int]*part{}
	c.ok(s.fileJSON(f))
	return nil
}

// unfinishedFile finds the unfinished large file named by a {"fileId"}
// request; s.mu is held.
func (s *Server) unfinishedFile(c *call, id string) (*file, error) {
	f := s.files[id]
	if f == nil || f.action != "start" {
		return nil, badRequest("no such unfinished large file: %s", id)
	}
	c.name = f.name
	return f, nil
}

// finishLargeFile serves b2_finish_large_file.
func (s *Server) finishLargeFile(c *call) error {
	var req struct {
		FileID string   `json:"fileId"`
		SHA1s  []string `json:"partSha1Array"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.unfinishedFile(c, req.FileID)
	if err != nil {
		return err
	}
	if err := checkParts(f.parts, req.SHA1s); err != nil {
		return err
	}
	var data []byte
	discarded := false
	for n := 1; n <= len(req.SHA1s); n++ {
		p := f.parts[n]
		f.size += p.size
		discarded = discarded || p.discarded
		data = append(data, p.data...)
	}
	f.action, f.parts, f.discarded = "upload", nil, discarded
	if !discarded {
		f.data = data
	}
	c.ok(s.fileJSON(f))
	return nil
}

// checkParts enforces B2's rules on finishing a large file.
func checkParts(parts map[int]*part, sha1s []string) error {
	if len(sha1s) == 0 {
		return badRequest("partSha1Array is empty")
	}
	if len(sha1s) > maxParts {
		return badRequest("more than %d parts", maxParts)
	}
	if len(parts) != len(sha1s) {
		return badRequest("partSha1Array has %d entries but %d parts were uploaded", len(sha1s), len(parts))
	}
	for i, h := range sha1s {
		p := parts[i+1]
		switch {
		case p == nil:
			return badRequest("Part number %d has not been uploaded", i+1)
		case !strings.EqualFold(p.sha1, h):
			return badRequest("Part number %d: sha1 %s does not match uploaded %s", i+1, h, p.sha1)
		case i < len(sha1s)-1 && p.size < minPartSize:
			return badRequest("Part number %d is smaller than the minimum part size %d", i+1, minPartSize)
		}
	}
	return nil
}

// cancelLargeFile serves b2_cancel_large_file.
func (s *Server) cancelLargeFile(c *call) error {
	var req struct {
		FileID string `json:"fileId"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.unfinishedFile(c, req.FileID)
	if err != nil {
		return err
	}
	delete(s.files, f.id)
	c.ok(map[string]any{"fileId": f.id, "accountId": accountID, "bucketId": f.bucket.id, "fileName": f.name})
	return nil
}

// listParts serves b2_list_parts.
func (s *Server) listParts(c *call) error {
	var req struct {
		FileID string `json:"fileId"`
		Start  int    `json:"startPartNumber"`
		Count  int    `json:"maxPartCount"`
	}
	if err := c.decode(&req); err != nil {
		return err
	}
	count, err := pageSize(req.Count, 100, 1000)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.unfinishedFile(c, req.FileID)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	var next any
	for n := max(req.Start, 1); n <= maxParts; n++ {
		p := f.parts[n]
		if p == nil {
			continue
		}
		if len(out) == count {
			next = n
			break
		}
		out = append(out, map[string]any{"fileId": f.id, "partNumber": n, "contentLength": p.size, "contentSha1": p.sha1})
	}
	c.ok(map[string]any{"parts": out, "nextPartNumber": next})
	return nil
}

// pageSize applies a listing's default and maximum page size.
func pageSize(n, def, limit int) (int, error) {
	switch {
	case n <= 0:
		return def, nil
	case n > limit:
		return 0, badRequest("maximum page size is %d", limit)
	}
	return n, nil
}
