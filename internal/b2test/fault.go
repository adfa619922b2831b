package b2test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Fault describes how to misbehave on requests of one method. Hang wins
// over everything; otherwise a drip slows whatever else happens, CutAfter
// drops a request with a body before any Status answer, and a request that
// is neither hung, cut nor answered with Status is served normally (slowly,
// with a drip; cut mid-response, for a download with CutAfter).
type Fault struct {
	Status          int   // HTTP status to answer (e.g. 500, 503, 429) after draining the request body; 0 = no status fault
	RetryAfter      int   // if >0, send "Retry-After: N"; with Status 0 the status is 503
	Times           int   // apply to the next N matching requests; 0 = until ClearFaults
	Hang            bool  // take the connection and answer nothing until the server closes
	DripBytesPerSec int   // read the request body and write the response body at this rate
	CutAfter        int64 // close the connection after reading this many request body bytes (downloads: after writing this many response body bytes)
}

// faultRule is an injected fault and how many more requests it applies to.
type faultRule struct {
	method string
	f      Fault
	left   int // <0: forever
}

// Inject adds a fault for requests named method, as in Request.Method:
// an API call ("b2_list_file_names", "b2_authorize_account", ...), an
// upload ("b2_upload_file", "b2_upload_part"), or a download by name
// ("download" for GET, "download_head" for HEAD). "*" matches every
// request. Faults are tried in the order injected; the first that matches
// applies and uses up one of its Times.
func (s *Server) Inject(method string, f Fault) {
	left := f.Times
	if left <= 0 {
		left = -1
	}
	s.mu.Lock()
	s.faults = append(s.faults, &faultRule{method: method, f: f, left: left})
	s.mu.Unlock()
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// takeFault returns the fault for this request, if any, using up one of
// its Times.
func (s *Server) takeFault(method string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.faults {
		if r.method != method && r.method != "*" {
			continue
		}
		f := r.f
		if r.left > 0 {
			r.left--
			if r.left == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &f
	}
	return nil
}

// errServerClosed ends a slowed request when the server shuts down.
var errServerClosed = errors.New("b2test: server closed")

// applyFault misbehaves as f says. It reports whether the request should
// still be served normally.
func (c *call) applyFault(f *Fault) bool {
	c.nameFromURL()
	if f.Hang {
		c.hang()
		return false
	}
	if f.DripBytesPerSec > 0 {
		c.r.Body = &dripReader{r: c.r.Body, p: c.s.pacer(f.DripBytesPerSec)}
		c.w.out = &dripWriter{w: c.w.out, p: c.s.pacer(f.DripBytesPerSec)}
	}
	if f.CutAfter > 0 {
		if c.r.ContentLength != 0 {
			c.cutBody(f.CutAfter)
		}
		c.w.out = &cutWriter{w: c.w.out, left: f.CutAfter, flush: c.w.Flush}
	}
	status := f.Status
	if status == 0 && f.RetryAfter > 0 {
		status = http.StatusServiceUnavailable
	}
	if status == 0 {
		return true
	}
	c.noteName()
	code := statusCodes[status]
	if code == "" {
		code = "fault"
	}
	c.fail(&apiError{status: status, code: code, msg: "injected fault", retryAfter: f.RetryAfter})
	return false
}

// nameFromURL names the file of an upload or download from its header or
// path, so the log says what a faulted request was about.
func (c *call) nameFromURL() {
	var id string
	switch c.method {
	case "b2_upload_file":
		c.name, _ = url.QueryUnescape(c.r.Header.Get("X-Bz-File-Name"))
	case "b2_upload_part":
		id = strings.TrimPrefix(c.r.URL.Path, partPrefix)
	case "download", "download_head":
		rest := strings.TrimPrefix(c.r.URL.EscapedPath(), filePrefix)
		if _, escaped, ok := strings.Cut(rest, "/"); ok {
			c.name, _ = url.QueryUnescape(escaped)
		}
	}
	c.nameFromID(id)
}

// nameFromID names the file from its id, if the name is still unknown.
func (c *call) nameFromID(id string) {
	if c.name != "" || id == "" {
		return
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if f := c.s.files[id]; f != nil {
		c.name = f.name
	}
}

// noteName drains the request body before a status answer, taking the file
// name from an API call's JSON body.
func (c *call) noteName() {
	if c.method == "b2_upload_file" || c.method == "b2_upload_part" || c.r.ContentLength <= 0 {
		io.Copy(io.Discard, c.r.Body) //nolint:errcheck // draining only
		return
	}
	var req struct {
		Name   string `json:"fileName"`
		FileID string `json:"fileId"`
	}
	if json.NewDecoder(io.LimitReader(c.r.Body, 1<<20)).Decode(&req) == nil {
		c.name = req.Name
		c.nameFromID(req.FileID)
	}
}

// hang takes over the connection and keeps it open, unanswered and
// unread, until the server closes.
func (c *call) hang() {
	conn, _, err := c.w.Hijack()
	if err != nil {
		<-c.s.closing
		return
	}
	c.s.mu.Lock()
	if c.s.held == nil { // already closing
		c.s.mu.Unlock()
		conn.Close()
		return
	}
	c.s.held[conn] = struct{}{}
	c.s.mu.Unlock()
	<-c.s.closing
}

// cutBody reads n request body bytes and then drops the connection
// without an answer.
func (c *call) cutBody(n int64) {
	io.CopyN(io.Discard, c.r.Body, n) //nolint:errcheck // the connection is dropped either way
	panic(http.ErrAbortHandler)
}

// cutWriter writes left bytes of the response body, then drops the
// connection.
type cutWriter struct {
	w     io.Writer
	left  int64
	flush func()
}

func (cw *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) < cw.left {
		n, err := cw.w.Write(p)
		cw.left -= int64(n)
		return n, err
	}
	cw.w.Write(p[:cw.left]) //nolint:errcheck // the connection is dropped either way
	cw.flush()
	panic(http.ErrAbortHandler)
}

// pacer spreads bytes over time at rate bytes per second.
type pacer struct {
	rate    int
	closing <-chan struct{}
	start   time.Time
	done    int64
}

func (s *Server) pacer(rate int) *pacer {
	return &pacer{rate: rate, closing: s.closing, start: time.Now()}
}

// chunk is how many bytes to move before the next pause.
func (p *pacer) chunk() int { return max(p.rate/20, 1) }

// wait records n more bytes and sleeps until they are due.
func (p *pacer) wait(n int) error {
	p.done += int64(n)
	due := p.start.Add(time.Duration(float64(p.done) / float64(p.rate) * float64(time.Second)))
	d := time.Until(due)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-p.closing:
		return errServerClosed
	}
}

// dripReader reads the request body slowly.
type dripReader struct {
	r io.ReadCloser
	p *pacer
}

func (d *dripReader) Read(b []byte) (int, error) {
	if len(b) > d.p.chunk() {
		b = b[:d.p.chunk()]
	}
	n, err := d.r.Read(b)
	if werr := d.p.wait(n); werr != nil {
		return n, werr
	}
	return n, err
}

func (d *dripReader) Close() error { return d.r.Close() }

// dripWriter writes the response body slowly.
type dripWriter struct {
	w io.Writer
	p *pacer
}

func (d *dripWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		n := min(len(b), d.p.chunk())
		k, err := d.w.Write(b[:n])
		written += k
		if err != nil {
			return written, err
		}
		if f, ok := d.w.(http.Flusher); ok {
			f.Flush()
		}
		if err := d.p.wait(k); err != nil {
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}
