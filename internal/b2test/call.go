package b2test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Request is one logged request.
type Request struct {
	Method string    // B2 call: "b2_upload_part", "b2_upload_file", "b2_authorize_account", "download", "download_head", ...
	Status int       // HTTP status answered; 0 when the connection was held or cut without an answer
	Name   string    // file name when known
	Bytes  int64     // request body bytes read, plus response body bytes written for downloads
	Time   time.Time // when the request arrived (wall clock)
}

// Requests returns a copy of every request so far, in order of arrival.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Count returns how many requests named method have arrived so far.
func (s *Server) Count(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.log {
		if r.Method == method {
			n++
		}
	}
	return n
}

// call is one request being served.
type call struct {
	s      *Server
	r      *http.Request
	w      *recorder
	body   *countingReader
	method string
	idx    int // index in s.log
	name   string
	resp   any // JSON answer set by ok, written once the handler returns
}

func (s *Server) begin(method string, w http.ResponseWriter, r *http.Request) *call {
	s.mu.Lock()
	idx := len(s.log)
	s.log = append(s.log, Request{Method: method, Time: time.Now()})
	s.mu.Unlock()
	body := &countingReader{r: r.Body}
	r.Body = body
	return &call{
		s: s, r: r, method: method, idx: idx, body: body,
		w: &recorder{rw: w, out: w},
	}
}

// finish records the outcome; it runs even when the handler aborts the
// connection by panicking with http.ErrAbortHandler.
func (c *call) finish() {
	bytes := c.body.n
	if c.method == "download" {
		bytes += c.w.written
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	rq := &c.s.log[c.idx]
	rq.Status = c.w.status
	rq.Name = c.name
	rq.Bytes = bytes
}

// apiError is a B2 error answer.
type apiError struct {
	status     int
	code       string
	msg        string
	retryAfter int
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg) }

func badRequest(format string, args ...any) error {
	return &apiError{status: 400, code: "bad_request", msg: fmt.Sprintf(format, args...)}
}

func notFound(code, msg string) error {
	return &apiError{status: 404, code: code, msg: msg}
}

func badToken() error {
	return &apiError{status: 401, code: "bad_auth_token", msg: "Invalid authorization token"}
}

// statusCodes names the error code B2 uses for a status a fault answers.
var statusCodes = map[int]string{
	400: "bad_request", 401: "unauthorized", 403: "cap_exceeded", 404: "not_found",
	408: "request_timeout", 409: "conflict", 416: "range_not_satisfiable",
	429: "too_many_requests", 500: "internal_error", 503: "service_unavailable",
}

// fail writes err as a B2 JSON error.
func (c *call) fail(err error) {
	var e *apiError
	if !errors.As(err, &e) {
		e = &apiError{status: 500, code: "internal_error", msg: err.Error()}
	}
	if e.retryAfter > 0 {
		c.w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	if e.status == http.StatusRequestedRangeNotSatisfiable && c.method == "download_head" {
		c.w.WriteHeader(e.status)
		return
	}
	c.reply(e.status, map[string]any{"status": e.status, "code": e.code, "message": e.msg})
}

// reply writes v as a JSON body with the given status.
func (c *call) reply(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the fake's own response types reach here
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/json;charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "max-age=0, no-cache, no-store")
	c.w.WriteHeader(status)
	if c.r.Method != http.MethodHead {
		c.w.Write(b) //nolint:errcheck // a vanished client is not the server's error
	}
}

// ok sets v as the 200 JSON answer. It is written after the handler
// returns, so that no handler holds the server's lock while a slow client
// reads.
func (c *call) ok(v any) { c.resp = v }

// decode reads the JSON request body into v.
func (c *call) decode(v any) error {
	if err := json.NewDecoder(io.LimitReader(c.r.Body, 1<<20)).Decode(v); err != nil {
		return badRequest("invalid JSON request: %v", err)
	}
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReadCloser
	n int64
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n += int64(n)
	return n, err
}

func (cr *countingReader) Close() error { return cr.r.Close() }

// recorder is the ResponseWriter handlers see: it remembers the status,
// counts body bytes and routes them through out (a drip or cut fault may
// wrap it).
type recorder struct {
	rw      http.ResponseWriter
	out     io.Writer
	status  int
	written int64
}

func (w *recorder) Header() http.Header { return w.rw.Header() }

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.rw.WriteHeader(status)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.out.Write(p)
	w.written += int64(n)
	return n, err
}

func (w *recorder) Flush() {
	if f, ok := w.rw.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.rw).Hijack()
}
