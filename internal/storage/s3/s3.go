// Package s3 stores objects in an S3-compatible bucket (DigitalOcean Spaces,
// AWS, MinIO, versitygw) through minio-go.
//
// Invariants, beyond those of storage.Store:
//   - Memory is bounded by Config.PartSize per running Put: a Put holds at
//     most one part buffer, grown with the data, so a small object costs
//     about its size (minio-go's own PutObject would allocate 528 MiB for
//     an object of unknown size). PutSized of an object smaller than a
//     part holds no buffer at all, unless Config.Lock is set (every upload
//     request then carries the Content-MD5 of its data, read first).
//   - An object smaller than one part is one PUT request (Put reads up to
//     a part to find out; PutSized knows); a larger one is a multipart
//     upload, sent one part at a time. Either completes only after the
//     reader returned io.EOF (and, for PutSized, exactly the size given):
//     a reader error aborts the request or the upload, so no truncated
//     object becomes visible and a previous object stays.
//   - Get reports a missing key itself: the first response is awaited before
//     Get returns.
//   - No call hangs on a silent server, minio-go's retries included (each
//     request is tried at most Config.MaxRetries times, waiting minio-go's
//     backoff of 200ms doubling up to 1s between tries, all inside the
//     deadlines below). Stat, Delete, the opening of a Get, each page of a
//     List and the create, complete and abort requests of a Put end within
//     Config.CallTimeout. A part of a Put ends once the connection took
//     none of its bytes beyond those already sent for Config.IdleTimeout,
//     and a read of a Get body once nothing arrived for IdleTimeout. So on
//     a server that stops answering, List fails within CallTimeout, Get
//     within CallTimeout (opening) or IdleTimeout (reading), and Put within
//     max(CallTimeout, IdleTimeout) plus CallTimeout for the abort.
//   - An upload a killed process leaves behind is aborted by
//     SweepUnfinished once older than the age it is given.
//   - The secret key never appears in an error or a log line.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"mbackup/internal/storage"
)

// Part size limits of the S3 protocol, and the default.
const (
	MinPartSize     = 5 << 20
	MaxPartSize     = 5 << 30
	DefaultPartSize = 16 << 20
)

// DefaultMaxRetries is how many times a request is tried by default.
const DefaultMaxRetries = 5

// Config describes a bucket and how to reach it. Zero durations take the
// defaults documented on each field.
type Config struct {
	Endpoint        string // host or host:port, without a scheme
	Region          string // e.g. "fra1"; empty asks the server once per bucket
	Bucket          string
	Prefix          string // prepended to every key; a trailing "/" is added when missing
	AccessKeyID     string
	SecretAccessKey string // never printed, never part of an error

	// DisableTLS talks plain HTTP, for a test server on loopback. The zero
	// value is HTTPS.
	DisableTLS bool
	// PartSize is the multipart part size in bytes: memory per running Put,
	// and 10,000 parts bound the object size (16 MiB: 156 GiB). Default
	// DefaultPartSize; at least MinPartSize.
	PartSize int64
	// MaxRetries is how many times minio-go tries a failed request, within
	// the deadlines of the call. Default DefaultMaxRetries; 1 means no retry.
	MaxRetries int

	DialTimeout           time.Duration // TCP connect; default 10s
	TLSHandshakeTimeout   time.Duration // default 10s
	ResponseHeaderTimeout time.Duration // after a request is sent; default 2m
	// IdleTimeout fails a connection on which nothing was read or written
	// for this long, so a stalled upload or download ends in an error.
	// Default 2m.
	IdleTimeout time.Duration
	// CallTimeout bounds every request that carries no object data, its
	// retries included: Stat, Delete, the opening of a Get, each page of a
	// List, and creating, completing or aborting a Put's upload. The parts of
	// a Put and the body of a Get last as long as their data needs and are
	// guarded by IdleTimeout instead. Default 1m.
	CallTimeout time.Duration

	// Lock gives every object written an Object Lock retention (mode and
	// retain-until of now plus Days); the bucket must have Object Lock.
	// The zero Lock writes none.
	Lock Lock
}

// String describes the config without its secret, for %v and %+v.
func (c Config) String() string {
	return fmt.Sprintf("s3://%s/%s/%s (key id %s)", c.Endpoint, c.Bucket, c.Prefix, c.AccessKeyID)
}

// GoString is String, so that %#v does not print the secret either.
func (c Config) GoString() string { return c.String() }

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	def(&c.DialTimeout, 10*time.Second)
	def(&c.TLSHandshakeTimeout, 10*time.Second)
	def(&c.ResponseHeaderTimeout, 2*time.Minute)
	def(&c.IdleTimeout, 2*time.Minute)
	def(&c.CallTimeout, time.Minute)
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	return c
}

// validate reports the first unusable field.
func (c Config) validate() error {
	switch {
	case c.Endpoint == "" || strings.Contains(c.Endpoint, "/"):
		return fmt.Errorf("s3: endpoint %q: want host or host:port without a scheme", c.Endpoint)
	case c.Bucket == "":
		return errors.New("s3: bucket is empty")
	case c.AccessKeyID == "" || c.SecretAccessKey == "":
		return errors.New("s3: access key id or secret access key is empty")
	case c.PartSize < MinPartSize || c.PartSize > MaxPartSize:
		return fmt.Errorf("s3: part size %d: want between %d (5 MiB) and %d (5 GiB)", c.PartSize, MinPartSize, MaxPartSize)
	case strings.HasPrefix(c.Prefix, "/"):
		return fmt.Errorf("s3: prefix %q starts with a slash", c.Prefix)
	}
	if err := c.Lock.Check(); err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	if c.Prefix != "" {
		if err := storage.ValidKey(strings.TrimSuffix(c.Prefix, "/")); err != nil {
			return fmt.Errorf("s3: prefix: %w", err)
		}
	}
	return nil
}

// Store is a storage.Store on one bucket, under one prefix.
type Store struct {
	cfg    Config
	client *minio.Client
	core   minio.Core
	http   *http.Client // for the requests minio-go cannot make (see retention)

	throttle *storage.ThrottleTransport // under client and http; see OnThrottle
}

var _ storage.Store = (*Store)(nil)

// New validates cfg and connects to the endpoint. It makes no request: a
// wrong endpoint or credential shows at the first call.
func New(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tr := &storage.ThrottleTransport{Next: newTransport(cfg)}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		Secure:     !cfg.DisableTLS,
		Region:     cfg.Region,
		Transport:  tr,
		MaxRetries: cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: endpoint %s: %w", cfg.Endpoint, err)
	}
	return &Store{cfg: cfg, client: client, core: minio.Core{Client: client}, http: &http.Client{Transport: tr}, throttle: tr}, nil
}

// Get opens key for reading. The response headers have arrived when Get
// returns; reading the body is bounded only by ctx and Config.IdleTimeout.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := storage.ValidKey(key); err != nil {
		return nil, fmt.Errorf("s3: get: %w", err)
	}
	r, err := s.get(ctx, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("s3: get %s: %w", key, err)
	}
	return r, nil
}

// get opens key with opts, within CallTimeout for the response headers.
func (s *Store) get(ctx context.Context, key string, opts minio.GetObjectOptions) (io.ReadCloser, error) {
	// The deadline covers the response headers only, not the whole body.
	ctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(s.cfg.CallTimeout, func() { cancel(s.errTimeout()) })
	body, _, _, err := s.core.GetObject(ctx, s.cfg.Bucket, s.cfg.Prefix+key, opts)
	if !timer.Stop() && err == nil {
		body.Close()
		err = s.errTimeout()
	}
	if err != nil {
		err = s.cause(ctx, err, nil)
		cancel(nil)
		return nil, err
	}
	return &getBody{ReadCloser: body, key: key, cancel: func() { cancel(nil) }}, nil
}

// getBody ends the request's context when the reader is closed.
type getBody struct {
	io.ReadCloser
	key    string
	cancel context.CancelFunc
}

// Read reads the object, naming the key in errors other than io.EOF.
func (b *getBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("s3: get %s: read: %w", b.key, err)
	}
	return n, err
}

// Close releases the connection.
func (b *getBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// Stat describes key with one HEAD request.
func (s *Store) Stat(ctx context.Context, key string) (storage.Object, error) {
	if err := storage.ValidKey(key); err != nil {
		return storage.Object{}, fmt.Errorf("s3: stat: %w", err)
	}
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	info, err := s.client.StatObject(ctx, s.cfg.Bucket, s.cfg.Prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return storage.Object{}, fmt.Errorf("s3: stat %s: %w", key, s.cause(ctx, err, nil))
	}
	return storage.Object{Key: key, Size: info.Size, Modified: info.LastModified}, nil
}

// cause maps a minio-go error to the error a caller can act on: a missing
// key becomes fs.ErrNotExist, a failed reader its own error, a cancelled or
// timed-out call the context's error.
func (s *Store) cause(ctx context.Context, err, readErr error) error {
	var resp minio.ErrorResponse
	switch {
	case readErr != nil:
		return readErr
	case errors.As(err, &resp) && (resp.Code == minio.NoSuchKey || resp.Code == "NoSuchVersion"):
		return fs.ErrNotExist
	case errors.As(err, &resp) && resp.Code == minio.NoSuchBucket:
		return fmt.Errorf("bucket %s does not exist: %w", s.cfg.Bucket, err)
	case errors.As(err, &resp) && resp.Code == "InvalidRequest" && strings.Contains(resp.Message, "ObjectLock"):
		return fmt.Errorf("bucket %s has no Object Lock, which storage.lock needs: create a bucket with Object Lock "+
			"enabled (it cannot be turned on later on most providers) or remove storage.lock: %w", s.cfg.Bucket, err)
	case errors.As(err, &resp) && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized ||
		slices.Contains(deniedCodes, resp.Code)):
		return fmt.Errorf("access denied (check the access key id and secret for %s): %w", s.cfg.Endpoint, err)
	case ctx.Err() != nil && !errors.Is(err, context.Cause(ctx)):
		return fmt.Errorf("%w (%v)", context.Cause(ctx), err)
	}
	return err
}

// deniedCodes are the error codes of a wrong access key id or secret.
// versitygw answers an unknown key id with 404 XAdminUserNotFound.
var deniedCodes = []string{"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "XAdminUserNotFound"}

// callContext bounds a call by Config.CallTimeout.
func (s *Store) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.cfg.CallTimeout, s.errTimeout())
}

// errTimeout is the cause of a call that outlived Config.CallTimeout.
func (s *Store) errTimeout() error {
	return fmt.Errorf("no answer from %s within %v: %w", s.cfg.Endpoint, s.cfg.CallTimeout, context.DeadlineExceeded)
}
