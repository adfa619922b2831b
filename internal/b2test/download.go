package b2test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// downloadByName serves GET and HEAD {downloadUrl}/file/{bucket}/{name}:
// the newest version of name, 404 when missing or hidden.
func (s *Server) downloadByName(c *call) error {
	rest := strings.TrimPrefix(c.r.URL.EscapedPath(), filePrefix)
	bucketName, escaped, ok := strings.Cut(rest, "/")
	if !ok {
		return badRequest("download path needs /file/<bucket>/<name>")
	}
	name, err := url.QueryUnescape(escaped)
	if err != nil {
		return badRequest("file name is not percent-encoded: %v", err)
	}
	c.name = name
	s.mu.Lock()
	b := s.buckets[bucketName]
	if b == nil {
		s.mu.Unlock()
		return notFound("not_found", "bucket "+bucketName+" does not exist")
	}
	if err := s.downloadAllowed(c, b, name); err != nil {
		s.mu.Unlock()
		return err
	}
	f := s.latest(b, name)
	s.mu.Unlock()
	if f == nil || f.action != "upload" {
		return notFound("not_found", "File with such name does not exist.")
	}
	return s.serveFile(c, f)
}

// downloadByID serves GET /b2api/v3/b2_download_file_by_id?fileId=...,
// which reaches any version.
func (s *Server) downloadByID(c *call) error {
	id := c.r.URL.Query().Get("fileId")
	s.mu.Lock()
	f := s.files[id]
	if f == nil || f.action != "upload" {
		s.mu.Unlock()
		return notFound("not_found", "no such file: "+id)
	}
	c.name = f.name
	err := s.downloadAllowed(c, f.bucket, f.name)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.serveFile(c, f)
}

// serveFile writes f's headers and, for GET, the requested range. Fields
// of an upload never change once it exists, so f is read without the lock.
func (s *Server) serveFile(c *call, f *file) error {
	start, end, partial, err := parseRange(c.r.Header.Get("Range"), f.size)
	if err != nil {
		return err
	}
	if c.r.Method == http.MethodGet && f.discarded && end > start {
		return &apiError{status: http.StatusNotImplemented, code: "content_discarded",
			msg: "the test server discarded this file's content"}
	}
	h := c.w.Header()
	h.Set("Content-Length", strconv.FormatInt(end-start, 10))
	h.Set("Content-Type", f.contentType)
	h.Set("Accept-Ranges", "bytes")
	h.Set("X-Bz-File-Id", f.id)
	h.Set("X-Bz-File-Name", escapeName(f.name))
	h.Set("X-Bz-Content-Sha1", f.sha1)
	h.Set("X-Bz-Upload-Timestamp", strconv.FormatInt(f.uploaded.UnixMilli(), 10))
	for k, v := range f.info {
		h.Set("X-Bz-Info-"+url.QueryEscape(k), url.QueryEscape(v))
	}
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, f.size))
	}
	c.w.WriteHeader(status)
	if c.r.Method == http.MethodGet && end > start {
		c.w.Write(f.data[start:end]) //nolint:errcheck // a vanished client is not the server's error
	}
	return nil
}

// escapeName encodes a file name the way B2 and blazer do.
func escapeName(name string) string {
	return strings.ReplaceAll(url.QueryEscape(name), "%2F", "/")
}

// parseRange interprets a Range header against size and returns the byte
// interval [start,end). A range starting at or past the end is 416, which
// is how blazer's Reader learns it has read everything.
func parseRange(h string, size int64) (start, end int64, partial bool, err error) {
	if h == "" {
		return 0, size, false, nil
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	first, last, ok2 := strings.Cut(spec, "-")
	if !ok || !ok2 || strings.Contains(spec, ",") {
		return 0, 0, false, badRequest("unsupported Range %q", h)
	}
	if first == "" { // suffix: the last N bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false, badRequest("bad Range %q", h)
		}
		return max(size-n, 0), size, true, nil
	}
	start, err = strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false, badRequest("bad Range %q", h)
	}
	if start >= size {
		return 0, 0, false, &apiError{status: http.StatusRequestedRangeNotSatisfiable,
			code: "range_not_satisfiable", msg: fmt.Sprintf("range %q, file size %d", h, size)}
	}
	end = size
	if last != "" {
		l, err := strconv.ParseInt(last, 10, 64)
		if err != nil || l < start {
			return 0, 0, false, badRequest("bad Range %q", h)
		}
		end = min(l+1, size)
	}
	return start, end, true, nil
}
