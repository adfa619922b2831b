// Package b2 implements storage.Store on Backblaze B2 through the native API,
// using github.com/Backblaze/blazer v0.7.2, which retries failed calls
// forever. This package bounds it from outside.
//
// How blazer is bounded:
//   - Every HTTP request goes through an http.Transport with dial, TLS
//     handshake, response header and idle timeouts.
//   - Every call that is not an upload or a download runs under CallTimeout:
//     Stat, the not-found check of Get, each step of Delete, each page of List
//     and of the sweeper, and New's authorization.
//   - An upload runs under UploadTimeout and a stall watchdog: while blazer
//     has a request in flight or is inside Write or Close, the upload must
//     make progress (request-body bytes accepted by the network, or a
//     successful answer) at least every StallTimeout, or its context is
//     cancelled. Blazer's retry loops on upload requests are slowed down
//     (it re-sends small files without any pause) and cut after
//     UploadRetries consecutive failed upload requests.
//   - A download (the reader of Get) runs under DownloadTimeout and the same
//     watchdog, counting response-body bytes.
//
// What a failed Put leaves: nothing visible. On any failure (reader error,
// cancelled context, watchdog, deadline, upload error) the writer's context
// is cancelled before its Close, so nothing is committed: an object of at
// most one chunk is only ever sent by Close, and a large file is never
// finished. A large file that was started is cancelled right away when B2
// can still be reached; otherwise it stays unfinished (invisible, but its
// parts are billed) until SweepUnfinished removes it. A previous object
// under the same key stays the newest version. After a failed upload the
// store takes a fresh bucket handle, because blazer keeps a failed upload
// URL in the handle's pool. Bytes are handed to blazer one whole chunk at a
// time, so blazer's buffer is empty when a failure is handled: v0.7.2's
// Close, called on a cancelled writer that still buffers bytes, returns
// without stopping its upload goroutines, which then block forever. (Only
// a cancellation landing within the instant an upload goroutine frees
// itself can still leave one behind.)
//
// Put of an existing key adds a new version (Get, Stat and List see the new
// bytes); Delete removes every version of the key. Keys are stored as
// Prefix+key; Prefix always ends in "/" so that two stores with prefixes
// "a" and "ab" never see each other's objects.
//
// Object Lock (lock.go, delete.go): with Config.Lock set, every uploaded
// version is retained for Lock.Days from its upload, by the bucket's default
// retention when that covers the lock, else by the retention sent with the
// upload request itself (b2_upload_file headers, b2_start_large_file's
// fileRetention: no request of its own). A Put that cannot be locked fails
// before uploading. Delete never bypasses a retention: it deletes the
// versions that are not retained, leaves a hide marker newest (the key is
// gone from Get, Stat and List, and no older version comes back) and
// returns a *storage.LockedError; with a key that lacks deleteFiles
// (Hides) it only hides. Versions and GetVersion (storage.Versioned) reach
// every version, hidden or superseded, with its retention. These calls,
// which blazer does not make, are direct v3 JSON calls (api.go) within the
// same CallTimeout and DownloadTimeout. The store never calls blazer's
// Bucket.Update, which panics on a default retention without a period.
//
// Storage cap: a Put that B2 refuses with 403 storage_cap_exceeded fails at
// once with storage.ErrStorageCap; reading, listing and deleting go on.
//
// Memory: an upload holds its own chunk buffer plus blazer's buffers, one per
// concurrent upload and one being handed over, so about
// (ConcurrentUploads+2) × ChunkSize live, within the budget of
// 2 × (ConcurrentUploads+1) × ChunkSize with the garbage collector's slack:
// a 1 GiB Put in 16 MiB parts, 2 at a time, peaks at about 88 MiB of heap.
// A Get holds up to ConcurrentUploads downloaded chunks.
package b2

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/Backblaze/blazer/b2"

	"mbackup/internal/redact"
	"mbackup/internal/storage"
)

// Defaults for zero Config fields. They are also the defaults of the
// configuration file's storage settings (package config refers to them).
const (
	DefaultChunkSize         = 16 << 20
	DefaultConcurrentUploads = 2
	DefaultCallTimeout       = 2 * time.Minute
	DefaultStallTimeout      = 2 * time.Minute
	DefaultUploadTimeout     = 6 * time.Hour
	DefaultDownloadTimeout   = 6 * time.Hour
	DefaultUploadRetries     = 20

	// MinChunkSize is B2's absoluteMinimumPartSize.
	MinChunkSize = 5_000_000
	// MaxChunkSize is B2's largest part.
	MaxChunkSize = 5_000_000_000
	// maxNameLen is B2's limit on a file name, in bytes.
	maxNameLen = 1024
)

// Config configures a Store. Zero fields take the defaults above.
type Config struct {
	KeyID  string // application key ID
	AppKey string // application key; never printed, never in an error
	Bucket string // bucket name; the bucket must exist
	Prefix string // prepended to every key; "/" is appended when missing

	// ChunkSize is the size of each part of a large file, and the size up
	// to which an object is sent in one b2_upload_file. At least 5,000,000.
	ChunkSize int
	// ConcurrentUploads is how many parts of one object are sent at once,
	// and how many chunks a download fetches ahead.
	ConcurrentUploads int

	// CallTimeout is the deadline of each call that is not an upload or a
	// download.
	CallTimeout time.Duration
	// StallTimeout cancels an upload or a download that makes no progress
	// for this long while it waits on the network. It is also the
	// transport's response header timeout.
	StallTimeout time.Duration
	// UploadTimeout is the deadline of a whole Put.
	UploadTimeout time.Duration
	// DownloadTimeout is the deadline of a whole Get, from the call until
	// the reader is closed.
	DownloadTimeout time.Duration
	// UploadRetries is how many upload requests in a row may fail before
	// the upload is given up.
	UploadRetries int

	// Lock, when its Mode is set, gives every uploaded version an Object
	// Lock retention of Lock.Days from its upload. The bucket must have
	// file lock enabled.
	Lock Lock

	// APIBase replaces https://api.backblazeb2.com, for tests.
	APIBase string
}

// String describes the configuration without the application key.
func (c Config) String() string {
	return fmt.Sprintf("b2.Config{KeyID:%q AppKey:[redacted] Bucket:%q Prefix:%q ChunkSize:%d ConcurrentUploads:%d "+
		"CallTimeout:%v StallTimeout:%v UploadTimeout:%v DownloadTimeout:%v UploadRetries:%d Lock:%+v APIBase:%q}",
		c.KeyID, c.Bucket, c.Prefix, c.ChunkSize, c.ConcurrentUploads,
		c.CallTimeout, c.StallTimeout, c.UploadTimeout, c.DownloadTimeout, c.UploadRetries, c.Lock, c.APIBase)
}

// GoString is String, so that %#v does not print the application key either.
func (c Config) GoString() string { return c.String() }

// withDefaults fills zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	setDefault(&c.ChunkSize, DefaultChunkSize)
	setDefault(&c.ConcurrentUploads, DefaultConcurrentUploads)
	setDefault(&c.UploadRetries, DefaultUploadRetries)
	setDefault(&c.CallTimeout, DefaultCallTimeout)
	setDefault(&c.StallTimeout, DefaultStallTimeout)
	setDefault(&c.UploadTimeout, DefaultUploadTimeout)
	setDefault(&c.DownloadTimeout, DefaultDownloadTimeout)
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	switch {
	case c.KeyID == "":
		return c, errors.New("key id is empty")
	case c.AppKey == "":
		return c, errors.New("application key is empty")
	case c.Bucket == "":
		return c, errors.New("bucket is empty")
	case c.ChunkSize < MinChunkSize || c.ChunkSize > MaxChunkSize:
		return c, fmt.Errorf("chunk size %d is outside B2's part sizes %d..%d", c.ChunkSize, MinChunkSize, MaxChunkSize)
	case c.ConcurrentUploads < 1 || c.UploadRetries < 1:
		return c, errors.New("concurrent uploads and upload retries must be positive")
	case c.CallTimeout < 0 || c.StallTimeout < 0 || c.UploadTimeout < 0 || c.DownloadTimeout < 0:
		return c, errors.New("timeouts must be positive")
	case !utf8.ValidString(c.Prefix) || strings.HasPrefix(c.Prefix, "/") || strings.Contains(c.Prefix, "//"):
		return c, fmt.Errorf("prefix %q is not a valid B2 file name prefix", c.Prefix)
	case len(c.Prefix)+storage.MaxKeyLen > maxNameLen:
		return c, fmt.Errorf("prefix %q is longer than %d bytes", c.Prefix, maxNameLen-storage.MaxKeyLen)
	}
	if err := c.Lock.Check(); err != nil {
		return c, err
	}
	return c, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// Store is a storage.Store on a B2 bucket. It is safe for concurrent use.
type Store struct {
	cfg       Config
	client    *b2.Client
	transport *http.Transport
	throttle  *storage.ThrottleTransport // over transport; see OnThrottle
	chunks    sync.Pool                  // *[]byte of ChunkSize+1 bytes, reused across Puts

	sess        sessions         // the store's own authorization for direct v3 calls
	versionPage int              // versions per b2_list_file_versions call
	bucketLock  bucketLock       // the bucket's lock configuration, read by New
	now         func() time.Time // the clock that tells a retention from a past one

	mu     sync.Mutex
	bucket *b2.Bucket // current handle; replaced after a failed upload
	stale  bool       // the handle saw a failed upload and must be replaced
}

var _ storage.Store = (*Store)(nil)

// New authorizes with B2 and opens the bucket, within CallTimeout.
func New(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("b2: config: %w", err)
	}
	s := &Store{cfg: cfg, transport: newHTTPTransport(cfg), versionPage: versionPage, now: time.Now}
	s.throttle = &storage.ThrottleTransport{Next: s.transport}
	opts := []b2.ClientOption{b2.Transport(meter{next: s.throttle}), b2.UserAgent("mbackup")}
	if cfg.APIBase != "" {
		opts = append(opts, b2.APIBase(cfg.APIBase))
	}
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	s.client, err = b2.NewClient(cctx, cfg.KeyID, cfg.AppKey, opts...)
	if err != nil {
		return nil, s.fail("authorize", "", cctx, err)
	}
	s.bucket, err = s.client.Bucket(cctx, cfg.Bucket)
	if err != nil {
		return nil, s.fail("open bucket", cfg.Bucket, cctx, err)
	}
	se, err := s.authorize(cctx)
	if err != nil {
		return nil, s.fail("authorize", "", cctx, err)
	}
	bk, err := s.listBucket(cctx, se)
	if err != nil {
		return nil, s.fail("open bucket", cfg.Bucket, cctx, err)
	}
	se.bucketID = bk.ID
	s.sess.set(se)
	s.bucketLock = bk.lock()
	return s, nil
}

// Close releases idle connections. The store stays usable.
func (s *Store) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// name is the B2 file name of key.
func (s *Store) name(key string) string { return s.cfg.Prefix + key }

// callContext bounds one call by CallTimeout.
func (s *Store) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.cfg.CallTimeout,
		fmt.Errorf("%w: no answer within %v", errCallTimeout, s.cfg.CallTimeout))
}

// Causes of the store's deadlines. Each is also a context.DeadlineExceeded,
// so callers need not know them.
var (
	errCallTimeout     = timeout("call timed out")
	errUploadTimeout   = timeout("upload timed out")
	errDownloadTimeout = timeout("download timed out")
)

// timeout is the cause of a context ended by one of the store's deadlines.
type timeout string

func (t timeout) Error() string { return string(t) }

// Is makes a timeout match context.DeadlineExceeded.
func (t timeout) Is(target error) bool { return target == context.DeadlineExceeded }

// handle returns the bucket handle to use, replacing it first if an upload
// through it failed.
func (s *Store) handle(ctx context.Context) (*b2.Bucket, error) {
	s.mu.Lock()
	b, stale := s.bucket, s.stale
	s.mu.Unlock()
	if !stale {
		return b, nil
	}
	cctx, cancel := s.callContext(ctx)
	defer cancel()
	nb, err := s.client.Bucket(cctx, s.cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("renew bucket handle: %w", cause(cctx, err))
	}
	s.mu.Lock()
	if s.bucket == b {
		s.bucket, s.stale = nb, false
	}
	s.mu.Unlock()
	return nb, nil
}

// discard marks b as having seen a failed upload.
func (s *Store) discard(b *b2.Bucket) {
	s.mu.Lock()
	if s.bucket == b {
		s.stale = true
	}
	s.mu.Unlock()
}

// fail builds the error of an operation on key: "b2: op key: cause", where
// the cause is the context's own cause when the context ended (a stall, a
// deadline), and the application key is never part of the message.
func (s *Store) fail(op, key string, ctx context.Context, err error) error {
	err = cause(ctx, err)
	if key != "" {
		op += " " + key
	}
	msg := redact.Secrets(fmt.Sprintf("b2: %s: %v", op, err), redact.Mark, s.cfg.AppKey)
	return &opError{msg: msg, err: err}
}

// cause prefers why ctx ended over the error blazer returned for it, which
// is usually a bare "context canceled".
func cause(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	c := context.Cause(ctx)
	if errors.Is(err, c) {
		return err
	}
	return c
}

// opError is an error of this package: its message is fixed (redacted) and
// it unwraps to the cause, so errors.Is(err, fs.ErrNotExist) and
// errors.Is(err, context.Canceled) work.
type opError struct {
	msg string
	err error
}

func (e *opError) Error() string { return e.msg }
func (e *opError) Unwrap() error { return e.err }
