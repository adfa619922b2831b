// Package b2test runs an in-process fake of the Backblaze B2 native API v3:
// the calls github.com/Backblaze/blazer v0.7.2 makes (authorize, buckets,
// small and large uploads, listings, hide, delete, download), served by an
// httptest server, with fault injection and a log of every request.
//
// Invariants the fake keeps, as real B2 does:
//   - Every API call needs the account token from b2_authorize_account and
//     every upload needs the token handed out with its upload URL; anything
//     else is answered 401 bad_auth_token.
//   - Uploaded bytes are checked against X-Bz-Content-Sha1 (40 hex digits or
//     hex_digits_at_end); Content-Length (411 without) and, for
//     b2_upload_file, Content-Type are required; file names follow B2's
//     rules (valid UTF-8, at most 1024 bytes, no control characters, no
//     backslash or DEL, no leading or trailing "/", no "//").
//   - Large files: part numbers 1..10000; b2_finish_large_file needs every
//     part from 1 to N, a matching partSha1Array, and every part but the last
//     at least 5,000,000 bytes (absoluteMinimumPartSize).
//   - Listings are ascending by the UTF-8 bytes of the name, newest version
//     first within a name; b2_list_file_names shows only names whose newest
//     version is an upload. Downloads of a missing or hidden name are 404 and
//     a range starting at or past the end is 416.
//   - Errors are JSON {"status":n,"code":"...","message":"..."}.
//   - Object Lock (lock.go): a lock-enabled bucket's default retention, or
//     the retention asked for on upload, locks each new version; a version
//     under retention is not deleted (401 access_denied) unless it is
//     governance and the call bypasses it with the bypassGovernance
//     capability; b2_update_file_retention lengthens freely but shortens
//     governance only with that bypass and compliance never. Hiding is
//     always allowed. Lifecycle rules are kept and applied by
//     ApplyLifecycle at the server's clock (SetNow).
//   - Capabilities: after RestrictKey each call needs the capability B2
//     documents for it (401 unauthorized otherwise).
//   - SetStorageCap: an upload past the cap is 403 storage_cap_exceeded.
//
// State lives in memory. DiscardContent keeps only sizes and SHA1s, so a test
// can stream gigabytes through the server.
//
// Typical use:
//
//	s := b2test.New(t)
//	s.CreateBucket("backups")
//	c, err := b2.NewClient(ctx, s.KeyID, s.AppKey, b2.APIBase(s.URL))
//	...
//	s.Inject("b2_upload_part", b2test.Fault{Status: 503, Times: 3})
//
// Upload and download URLs point at the same server under their own paths;
// Requests and Count name every request as Inject does.
package b2test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a fake B2 service. Pass URL to b2.APIBase and KeyID, AppKey to
// b2.NewClient. All methods are safe for concurrent use.
type Server struct {
	URL    string // API base for b2.APIBase; upload and download URLs share it
	KeyID  string // application key id accepted by b2_authorize_account
	AppKey string // application key accepted by b2_authorize_account

	ts        *httptest.Server
	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	now      func() time.Time
	discard  bool
	caps     []string // nil: every capability
	capBytes int64    // storage cap; 0 for none
	keyBkt   string   // bucket the key is restricted to; "" for none
	seq      int64
	buckets  map[string]*bucket // by name
	files    map[string]*file   // every version and unfinished large file, by id
	tokens   map[string]*token
	log      []Request
	faults   []*faultRule
	held     map[net.Conn]struct{} // connections hijacked by a Hang fault
}

// accountID is the account every key of the fake belongs to.
const accountID = "acc0000test"

// New starts a fake B2 server; t.Cleanup closes it.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		KeyID:   "000testkeyid0000000000001",
		AppKey:  "K000testapplicationkey000000",
		closing: make(chan struct{}),
		now:     time.Now,
		buckets: make(map[string]*bucket),
		files:   make(map[string]*file),
		tokens:  make(map[string]*token),
		held:    make(map[net.Conn]struct{}),
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.ts.URL
	t.Cleanup(s.Close)
	return s
}

// Close stops the server. It first releases every request held by a Hang
// or slowed by a drip fault and closes all client connections, so it never
// waits on a client. Close is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.mu.Lock()
		for c := range s.held {
			c.Close()
		}
		s.held = nil
		s.mu.Unlock()
		s.ts.CloseClientConnections()
		s.ts.Close()
	})
}

// SetNow replaces the clock used for upload timestamps (nil restores
// time.Now), e.g. to age unfinished large files for a sweeper test.
func (s *Server) SetNow(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}

// DiscardContent makes later uploads keep only their size and SHA1, not
// their bytes, so memory stays flat however much is streamed. A GET of such
// a file (other than an empty range) is answered 501 content_discarded, and
// Content reports it as absent.
func (s *Server) DiscardContent(discard bool) {
	s.mu.Lock()
	s.discard = discard
	s.mu.Unlock()
}

// ExpireTokens makes every account and upload token issued so far answer
// 401 expired_auth_token, as B2 does after 24 hours; blazer re-authorizes.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tk := range s.tokens {
		tk.expired = true
	}
}

// serve routes a request to the API, upload or download handler, after
// logging it and applying any injected fault.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	method := methodOf(r)
	c := s.begin(method, w, r)
	defer c.finish()
	if f := s.takeFault(method); f != nil && !c.applyFault(f) {
		return
	}
	var err error
	switch method {
	case "b2_upload_file":
		err = s.uploadFile(c)
	case "b2_upload_part":
		err = s.uploadPart(c)
	case "download", "download_head":
		err = s.downloadByName(c)
	case "unknown":
		err = notFound("not_found", "no such endpoint: "+r.URL.Path)
	default:
		err = s.api(c)
	}
	switch {
	case err != nil:
		c.fail(err)
	case c.resp != nil:
		c.reply(http.StatusOK, c.resp)
	}
}

// methodOf names a request the way Request.Method and Inject do.
func methodOf(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, apiPrefix):
		return strings.TrimPrefix(p, apiPrefix)
	case strings.HasPrefix(p, partPrefix):
		return "b2_upload_part"
	case strings.HasPrefix(p, uploadPrefix):
		return "b2_upload_file"
	case strings.HasPrefix(p, filePrefix) && r.Method == http.MethodHead:
		return "download_head"
	case strings.HasPrefix(p, filePrefix):
		return "download"
	}
	return "unknown"
}

// URL paths served.
const (
	apiPrefix    = "/b2api/v3/"
	uploadPrefix = "/upload/"      // + bucket id: b2_upload_file
	partPrefix   = "/upload_part/" // + file id: b2_upload_part
	filePrefix   = "/file/"        // + bucket name / file name: download
)

// RestrictKey makes the key hold only caps (none given: every
// capability), and be restricted to bucket when it is not "": what
// b2_authorize_account reports and "mbackup check" reads. Every call then
// needs its capability as B2 documents it (401 unauthorized otherwise),
// except b2_list_buckets; a listing shows fileRetention values only with
// readFileRetentions and a bucket's file lock configuration only with
// readBucketRetentions. The bucket restriction is reported, not enforced.
func (s *Server) RestrictKey(bucket string, caps ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keyBkt, s.caps = bucket, caps
}

// SetBucketEncryption sets a bucket's default server-side encryption mode
// ("SSE-B2"), or turns it off with "".
func (s *Server) SetBucketEncryption(name, mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[name]
	if mode == "" {
		b.sse = nil
		return
	}
	b.sse = json.RawMessage(`{"mode":"` + mode + `","algorithm":"AES256"}`)
}
