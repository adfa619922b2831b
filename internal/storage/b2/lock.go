package b2

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"mbackup/internal/storage"
)

// Lock is the Object Lock retention every uploaded version gets.
type Lock = storage.Lock

// Lock modes.
const (
	Governance = storage.Governance
	Compliance = storage.Compliance
)

// bucketLock is the bucket's lock configuration as New read it.
type bucketLock struct {
	readable bool // the key may read it (readBucketRetentions)
	enabled  bool
	def      Lock // default retention; zero when none
}

// lock returns the bucket's lock configuration.
func (b *bucketAnswer) lock() bucketLock {
	bl := bucketLock{readable: b.Lock.Readable}
	if b.Lock.Value != nil {
		bl.enabled = b.Lock.Value.Enabled
	}
	bl.def.Mode, bl.def.Days = b.defaultRetention()
	return bl
}

// covers reports whether a version uploaded without a retention of its own
// gets at least l from the bucket default: as many days, in the same mode
// or in compliance, which nobody can shorten.
func (bl bucketLock) covers(l Lock) bool {
	return bl.readable && bl.enabled && bl.def.Days >= l.Days && (bl.def.Mode == l.Mode || bl.def.Mode == Compliance)
}

// uploadLock decides how a Put honours Config.Lock: not at all (no lock),
// through the bucket default (covers: nothing to send, and the key needs
// no writeFileRetentions), or with a retention on each upload request.
// A lock that cannot be honoured is an error before any upload.
func (s *Store) uploadLock() (send bool, err error) {
	l := s.cfg.Lock
	if l.Mode == "" || s.bucketLock.covers(l) {
		return false, nil
	}
	bl := s.bucketLock
	if bl.readable && !bl.enabled {
		return false, fmt.Errorf("%w: bucket %s has no file lock: enable Object Lock on it in the Backblaze web console "+
			"(Buckets, Object Lock), use a bucket made with \"b2 bucket create --file-lock-enabled\", or remove storage.lock",
			errLockUnusable, s.cfg.Bucket)
	}
	if se := s.sess.get(); se != nil && !slices.Contains(se.caps, "writeFileRetentions") {
		return false, fmt.Errorf("%w: the key lacks writeFileRetentions and the bucket's default retention "+
			"(%s %d days) does not cover %s %d days: give the key writeFileRetentions or set the bucket default "+
			"(\"b2 bucket update --default-retention-mode %s --default-retention-period %dd BUCKET\")",
			errLockUnusable, orNone(bl.def.Mode), bl.def.Days, l.Mode, l.Days, l.Mode, l.Days)
	}
	return true, nil
}

// errLockUnusable is the cause of a Put refused because Config.Lock cannot
// be honoured.
var errLockUnusable = errors.New("object lock cannot be applied")

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

type lockKey struct{}

// withLock makes the upload requests under ctx carry lock l (see
// addRetention).
func withLock(ctx context.Context, l Lock) context.Context {
	return context.WithValue(ctx, lockKey{}, l)
}

// addRetention gives an upload request the retention of the lock in its
// context, until now plus the lock's days: b2_upload_file gets the
// X-Bz-File-Retention-* headers, b2_start_large_file a fileRetention in
// its JSON body. This costs no request of its own.
func addRetention(req *http.Request, method string) (*http.Request, error) {
	l, ok := req.Context().Value(lockKey{}).(Lock)
	if !ok || (method != methodUploadFile && method != methodStartLarge) {
		return req, nil
	}
	until := time.Now().Add(time.Duration(l.Days) * 24 * time.Hour).UnixMilli()
	out := req.Clone(req.Context())
	if method == methodUploadFile {
		out.Header.Set("X-Bz-File-Retention-Mode", l.Mode)
		out.Header.Set("X-Bz-File-Retention-Retain-Until-Timestamp", strconv.FormatInt(until, 10))
		return out, nil
	}
	var body map[string]any
	raw, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, fmt.Errorf("b2_start_large_file body: %w", err)
	}
	body["fileRetention"] = map[string]any{"mode": l.Mode, "retainUntilTimestamp": until}
	raw, _ = json.Marshal(body)
	out.Body = io.NopCloser(bytes.NewReader(raw))
	out.ContentLength = int64(len(raw))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
	return out, nil
}
