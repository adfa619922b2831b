// Package mediasync mirrors a Mastodon media bucket (any S3 service) into a
// storage.Store, incrementally, and copies such a mirror back into an S3
// bucket for a migration or a restore.
//
// Invariants:
//   - Memory is O(page) whatever the bucket size: the source listing, the
//     destination listing and the index are three ascending streams merged
//     in one pass; no listing is ever loaded into a map. The exceptions are
//     bounded: the keys planned for deletion are held up to Options.MaxDelete
//     (a plan beyond the limit deletes nothing, so no more are needed), and
//     at most a window of in-flight copies waits to be recorded.
//   - Every stream must be strictly ascending in byte order. An out-of-order
//     key stops the run with ErrOutOfOrder naming both keys.
//   - Nothing is deleted after any error in the same run (a listing, copy,
//     index or ordering error), nor beyond Options.MaxDelete: a plan that
//     exceeds the limit deletes nothing. Deletes come after all copies.
//   - Keys are never renamed: a source key that the store cannot hold
//     verbatim is skipped and reported.
//   - Keys outside Options.Include or under Options.Exclude are neither
//     copied nor deleted, and their index records are kept.
//   - With a Limiter, no request to the source (or call to the store) is
//     sent before the limiter grants it; a 429 or 503 pauses them all, and
//     repeated ones lower the rate (adapt.go), never above the limit.
//   - The index is committed only after a complete listing and all copies.
//   - No read of the source hangs: a GET, each read of its body and each
//     page of a listing fail once the source sent nothing for
//     Options.StallTimeout while it was awaited (stall.ErrStalled), and the
//     object, or the run, is reported failed.
//
// # Change detection and the index
//
// S3 ETags (MD5, or a part-size-dependent hash for multipart uploads) cannot
// be compared with anything the store reports, and the store's Object has
// no metadata. So the mirror keeps, next to the prefix (IndexKey: "media/"
// gives "media.index.zst"), a zstd-compressed text index with one line per
// mirrored object in key order: the key and source ETag quoted with
// strconv.Quote, and the source size, tab-separated, after a header line.
// An object is copied when it is missing from the store, when its stored
// size differs from the source size, or when the source size or ETag differ
// from the values recorded in the index at the last copy. A run with
// nothing to do reads the listings and the index: no per-object HEAD or
// GET, and no index upload unless the index is over 6 hours old.
//
// An object present in the store but absent from the index (the first run
// against an existing mirror, or after the index was lost) is adopted
// without a copy when its size equals the source size: its source ETag is
// recorded. Mastodon never rewrites a media key in place (a new upload gets
// a new key), so a same-size object under the same key is taken to be the
// same file; re-copying a whole bucket to learn ETags would cost a full
// download and upload. A different size is copied.
//
// After a failed run the old index stays. Objects copied in that run are
// then either absent from the old index (adopted by size next time, with
// the ETag of the listing) or recorded with their previous ETag (copied
// again next time). Either way the next complete run converges.
//
// Dry runs plan only: no Put, no Delete, no index write.
package mediasync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/storage"
)

// Source is the S3 bucket being mirrored.
type Source struct {
	Client *minio.Client
	Bucket string
	Prefix string // key prefix in the bucket, usually ""; stripped in the mirror
}

// Options configures Mirror.
type Options struct {
	Source Source
	Store  storage.Store
	// Prefix is where the mirror lives in the store, ending in "/"
	// (typically "media/"). The index is stored at IndexKey(Prefix).
	Prefix string
	// Workers is the number of concurrent copies; default 8.
	Workers int
	// Delete removes objects of the mirror that the source no longer has,
	// at most MaxDelete of them (0: none). A plan beyond the limit deletes
	// nothing and fails the run.
	Delete    bool
	MaxDelete int64
	// Include, when not empty, limits the mirror to the source keys (after
	// Source.Prefix) under one of these prefixes; Exclude leaves out the
	// keys under any of its prefixes, such as "cache/" (the remote media
	// Mastodon fetches again on demand). Keys left out are neither copied
	// nor deleted from the store, and their index records are kept. The
	// source is listed per include prefix, and the listing skips an
	// excluded prefix with a new listing starting after it (StartAfter) as
	// soon as a key under it shows: an excluded prefix costs one listing
	// request, however many objects it holds. The store's listing still
	// walks the whole mirror.
	Include, Exclude []string
	// StoreLimiter, if set, limits the calls to Store (see limitedStore).
	// The source's limit is in its client (NewLimitedSourceClient). A 429
	// or 503 that the b2 or s3 store's service answers pauses the
	// StoreLimiter as one from the source pauses the source's.
	StoreLimiter *Limiter
	// SourceLimiter is the Limiter given to NewLimitedSourceClient, if
	// any: the run logs its changes of rate and reports its throttling.
	SourceLimiter *Limiter
	// DryRun plans without writing or deleting anything.
	DryRun bool
	// Retries is the number of extra attempts per object after the first;
	// 0 means 2, a negative value means none. An error that another try
	// cannot change (a 403, a 404) is not retried (see package retry).
	Retries int
	// RetryDelay bounds the wait before the first retry, the bound doubling
	// for each next one; each wait is drawn at random below its bound.
	// Default 1s.
	RetryDelay time.Duration
	// StallTimeout fails an attempt whose source sent nothing for this long
	// while it was awaited: a GET and each read of its body, each page of
	// the listing (which fails the run). Default DefaultStallTimeout.
	StallTimeout time.Duration
	// Progress, if set, receives the counts at most four times a second
	// and once at the end, from one goroutine.
	Progress func(Counts)
	// Log, if set, receives one line per skipped, failed or deleted object.
	Log io.Writer
}

// Counts are the running totals of a run. In a dry run Copied, CopiedBytes
// and Deleted count what would be copied and deleted.
type Counts struct {
	Listed      int64 // source objects listed
	Copied      int64 // objects copied
	CopiedBytes int64
	Unchanged   int64 // up to date, not copied (Adopted included)
	Adopted     int64 // in the store without an index record, same size: recorded, not copied
	Skipped     int64 // source keys the store cannot hold verbatim
	Raced       int64 // deleted or replaced at the source between listing and copy; seen again next run
	Deleted     int64
	Failed      int64
	// Excluded counts the store objects outside Options.Include or under
	// Options.Exclude, left as they are. The source is not listed there
	// (see Options.Exclude), so its objects are not counted.
	Excluded int64
}

// ObjectError is an object that could not be copied (Key is the source
// key) or deleted (Key is the store key).
type ObjectError struct {
	Key string
	Err error
}

func (e ObjectError) Error() string { return fmt.Sprintf("%q: %v", e.Key, e.Err) }

// Unwrap returns the cause.
func (e ObjectError) Unwrap() error { return e.Err }

// maxReported bounds SkippedKeys and Failures.
const maxReported = 100

// Result is the outcome of a run.
type Result struct {
	Counts
	SkippedKeys []string      // the first 100 skipped source keys, with Log for all
	Failures    []ObjectError // the first 100 failures (Counts.Failed has them all)
	// PlannedDeletes is how many store objects the source no longer has
	// (counted only when Delete is set).
	PlannedDeletes int64
	Duration       time.Duration
	// SourceThrottling and StoreThrottling are the 429 and 503 answers
	// and the lowest rate of Options.SourceLimiter and StoreLimiter (zero
	// without them); in a Restore, of the target and the store.
	SourceThrottling, StoreThrottling Throttling
}

// DefaultStallTimeout is Options.StallTimeout when unset.
const DefaultStallTimeout = 2 * time.Minute

// ErrDeleteLimit is wrapped by the error of a run whose deletion plan
// exceeds Options.MaxDelete. Nothing is deleted.
var ErrDeleteLimit = errors.New("delete limit exceeded")

func (o *Options) setDefaults() error {
	switch {
	case o.Source.Client == nil || o.Source.Bucket == "":
		return errors.New("mediasync: no source client or bucket")
	case o.Store == nil:
		return errors.New("mediasync: no store")
	}
	if err := checkPrefix(o.Prefix); err != nil {
		return err
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Retries == 0 {
		o.Retries = 2
	}
	o.Retries = max(o.Retries, 0)
	if o.RetryDelay <= 0 {
		o.RetryDelay = time.Second
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	if o.MaxDelete < 0 {
		o.MaxDelete = 0
	}
	return nil
}

// checkPrefix requires a store prefix that is a valid key ending in "/",
// so that the index key sits outside it.
func checkPrefix(p string) error {
	if len(p) < 2 || p[len(p)-1] != '/' {
		return fmt.Errorf("mediasync: prefix %q must be non-empty and end in /", p)
	}
	if err := storage.ValidKey(p[:len(p)-1]); err != nil {
		return fmt.Errorf("mediasync: prefix: %w", err)
	}
	return nil
}

// Mirror brings the store's copy under o.Prefix up to date with the source
// bucket. The error is non-nil when the listing did not complete, any
// object failed, the index could not be written or the deletion plan
// exceeded the limit; Result then still says what was done.
func Mirror(ctx context.Context, o Options) (Result, error) {
	start := time.Now()
	if err := o.setDefaults(); err != nil {
		return Result{}, err
	}
	f, err := newFilter(o.Include, o.Exclude)
	if err != nil {
		return Result{}, err
	}
	lim := limits{source: o.SourceLimiter, store: o.StoreLimiter, st: o.Store, sourceName: "source"}
	o.Store = limitStore(o.Store, o.StoreLimiter)
	r := newRun(o)
	r.filter = f
	stop := lim.watch(r.logf)
	err = r.mirror(ctx)
	stop()
	res := r.result()
	lim.report(&res)
	res.Duration = time.Since(start)
	if o.Progress != nil {
		o.Progress(res.Counts)
	}
	return res, err
}
