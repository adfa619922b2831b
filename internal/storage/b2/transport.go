package b2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"mbackup/internal/stall"
	"mbackup/internal/storage"
)

// ErrStalled is the cause of an upload or download cancelled by the stall
// watchdog. It is a stall.ErrStalled.
var ErrStalled = fmt.Errorf("transfer %w", stall.ErrStalled)

// ErrRetriesExhausted is the cause of an upload given up after
// Config.UploadRetries failed upload requests in a row.
var ErrRetriesExhausted = errors.New("upload retries exhausted")

// newHTTPTransport is http.DefaultTransport with a timeout on every phase of a
// request, so that no connection attempt, handshake or silent server can
// hold a call by itself. The body phases are left to the watchdog.
func newHTTPTransport(cfg Config) *http.Transport {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: cfg.StallTimeout,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   cfg.ConcurrentUploads + 2,
		WriteBufferSize:       64 << 10, // fewer writes for parts of megabytes
		ReadBufferSize:        64 << 10,
	}
}

// Blazer's names of the calls the meter treats specially.
const (
	methodUploadFile = "b2_upload_file"
	methodUploadPart = "b2_upload_part"
	methodDownload   = "b2_download_file_by_name"
	methodStartLarge = "b2_start_large_file"
)

// meter is the RoundTripper given to blazer. A request whose context carries
// a watchdog (every request of an upload or a download) reports to it: when
// it is in flight, each body read, and whether it succeeded. Upload requests
// after a failed one wait a growing pause first, because blazer re-sends a
// small file at once, in a loop, for as long as B2 answers 5xx.
type meter struct {
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (m meter) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	wd, _ := ctx.Value(watchdogKey{}).(*watchdog)
	if wd == nil {
		return m.next.RoundTrip(req)
	}
	method := req.Header.Get("X-Blazer-Method")
	req, err := addRetention(req, method)
	if err != nil {
		return nil, err
	}
	upload := method == methodUploadFile || method == methodUploadPart
	if upload {
		if err := wd.pause(ctx); err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, err
		}
	}
	wd.Enter()
	if upload && req.Body != nil && req.Body != http.NoBody {
		body := req.Body
		req = req.Clone(ctx)
		req.Body = &meteredBody{ReadCloser: body, wd: wd}
	}
	resp, err := m.next.RoundTrip(req)
	if err != nil {
		wd.answered(upload, false, err.Error())
		wd.Leave()
		return nil, err
	}
	wd.answered(upload, resp.StatusCode/100 == 2, resp.Status)
	if upload && resp.StatusCode == http.StatusForbidden {
		resp.Body = wd.checkCap(resp.Body)
	}
	if method != methodDownload && method != methodDownloadByID || req.Method == http.MethodHead {
		wd.Leave()
		return resp, nil
	}
	// A download stays in flight until its body is read or closed.
	resp.Body = &meteredBody{ReadCloser: resp.Body, wd: wd, inFlight: true}
	return resp, nil
}

// meteredBody reports every read of a request or response body to the
// watchdog as progress.
type meteredBody struct {
	io.ReadCloser
	wd       *watchdog
	inFlight bool // the body's request is in flight until EOF or Close
	once     sync.Once
}

func (b *meteredBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.wd.Progress()
	}
	if err != nil {
		b.done()
	}
	return n, err
}

func (b *meteredBody) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}

func (b *meteredBody) done() {
	if b.inFlight {
		b.once.Do(b.wd.Leave)
	}
}

type watchdogKey struct{}

// watchdog cancels a transfer that waits on the network without progress
// for longer than stall, or whose upload requests failed too often in a row.
// The transfer is waiting while the store is inside a blazer call (Enter,
// Leave) or blazer has a request in flight; progress is a body read or a
// successful answer. Time spent reading the caller's data is not counted:
// a slow producer is not a stall.
type watchdog struct {
	*stall.Watchdog
	stall   time.Duration
	retries int
	cancel  context.CancelCauseFunc

	mu    sync.Mutex
	fails int // failed upload requests in a row
}

// watch returns a context carrying a new watchdog, cancelled by it or by
// the returned function, which must be called to stop the watchdog.
func watch(parent context.Context, timeout time.Duration, retries int) (context.Context, *watchdog, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	sw := stall.New(timeout, cancel, fmt.Errorf("%w: no progress for %v", ErrStalled, timeout))
	context.AfterFunc(ctx, sw.Stop)
	wd := &watchdog{Watchdog: sw, stall: timeout, retries: retries, cancel: cancel}
	ctx = context.WithValue(ctx, watchdogKey{}, wd)
	return ctx, wd, cancel
}

// answered records the outcome of a request; what describes a failure.
func (w *watchdog) answered(upload, ok bool, what string) {
	if ok {
		w.Progress()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if ok {
		if upload {
			w.fails = 0
		}
		return
	}
	if !upload {
		return
	}
	w.fails++
	if w.fails > w.retries {
		w.cancel(fmt.Errorf("%w: %d upload requests in a row failed, the last with %s", ErrRetriesExhausted, w.fails, what))
	}
}

// errCap is the cause of an upload ended by B2's 403
// storage_cap_exceeded.
var errCap = fmt.Errorf("%w (B2 answered 403 storage_cap_exceeded)", storage.ErrStorageCap)

// checkCap ends the transfer at once when a 403 answer is B2's
// storage_cap_exceeded: blazer v0.7.2 does not retry it, but a large
// file's upload goroutine that gets it deadlocks with the writer, which
// would otherwise wait for the stall timeout. It returns the body for
// blazer to read.
func (w *watchdog) checkCap(body io.ReadCloser) io.ReadCloser {
	b, _ := io.ReadAll(io.LimitReader(body, 64<<10))
	body.Close()
	if bytes.Contains(b, []byte(`"storage_cap_exceeded"`)) {
		w.cancel(errCap)
	}
	return io.NopCloser(bytes.NewReader(b))
}

// pause waits before an upload request that follows failed ones: 50 ms
// after the first failure, doubling, at most 30 s and never more than half
// the stall timeout (the pause counts as waiting).
func (w *watchdog) pause(ctx context.Context) error {
	w.mu.Lock()
	fails := w.fails
	w.mu.Unlock()
	if fails == 0 {
		return nil
	}
	d := 50 * time.Millisecond << min(fails-1, 10)
	d = min(d, 30*time.Second, w.stall/2)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
