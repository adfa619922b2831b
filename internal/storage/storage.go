// Package storage defines the Store interface every backend implements and
// the rules for object keys that all of them share.
//
// Invariants every implementation keeps, proven by the storagetest suite:
//   - Put streams an object of unknown size; a Put whose reader fails or whose
//     context is cancelled leaves no visible object (Stat, Get and List do not
//     see it), and a previous object under the same key stays as it was.
//   - Get, Stat of a missing key return an error wrapping fs.ErrNotExist.
//     Delete of a missing key returns nil: deleting is idempotent, so prune can
//     be re-run after an interruption.
//   - List yields objects in ascending byte order of their keys, one at a time,
//     and stops at the first error of its callback, returning it.
//   - Delete removes every stored version of the key, so its space is freed.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Object describes one stored object.
type Object struct {
	Key      string    // the key as given to Put, without any backend prefix
	Size     int64     // stored bytes
	Modified time.Time // when the object was written, as the backend reports it
}

// Store is a flat key space of immutable objects. Keys are validated by
// ValidKey. See the package comment for the contract of each method.
type Store interface {
	// Put reads r to EOF and stores its bytes under key, replacing any
	// object of that name. The size is not known in advance. Memory is
	// bounded by the backend's part size, never by the object's size.
	Put(ctx context.Context, key string, r io.Reader) (Object, error)
	// Get opens the object for reading. A missing key is reported by Get
	// itself (wrapping fs.ErrNotExist), not by the first Read.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes the object; fs.ErrNotExist when absent.
	Stat(ctx context.Context, key string) (Object, error)
	// List calls fn for every object whose key starts with prefix, in
	// ascending key order. An error from fn stops the listing and is returned.
	List(ctx context.Context, prefix string, fn func(Object) error) error
	// Delete removes the object and every older version of it. Deleting a
	// missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// MaxKeyLen is the longest key accepted, in bytes. B2 allows 1024 bytes for a
// whole file name; the rest is left for a configured prefix.
const MaxKeyLen = 900

// ErrInvalidKey is wrapped by every key validation error.
var ErrInvalidKey = errors.New("invalid key")

// ValidKey reports whether key can be stored the same way by every backend:
// non-empty, valid UTF-8, at most MaxKeyLen bytes, slash-separated segments
// that are neither empty, "." nor "..", no control characters and no segment
// starting with ".mbackup-" (reserved for the local store's temporary files).
func ValidKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	switch {
	case key == "":
		return bad("empty")
	case len(key) > MaxKeyLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxKeyLen))
	case !utf8.ValidString(key):
		return bad("not valid UTF-8")
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return bad("control character or backslash")
		}
	}
	for _, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return bad("empty path segment (leading, trailing or double slash)")
		case seg == "." || seg == "..":
			return bad("dot segment")
		case strings.HasPrefix(seg, ".mbackup-"):
			return bad("segment starts with the reserved .mbackup-")
		}
	}
	return nil
}

// LockedError is returned (wrapped) by Delete when a version of the key is
// still under object-lock retention: the versions that were not locked are
// deleted, the locked ones stay, and nothing is lost. A later prune deletes
// them once Until has passed. It is not a failure of prune.
type LockedError struct {
	Key   string
	Until time.Time // the latest retain-until of the versions left; zero when the key may not read it
}

func (e *LockedError) Error() string {
	if e.Until.IsZero() {
		return fmt.Sprintf("%s is locked (the key may not read until when)", e.Key)
	}
	return fmt.Sprintf("%s is locked until %s", e.Key, e.Until.UTC().Format(time.RFC3339))
}

// ErrStorageCap is wrapped by the error of a Put that the provider refused
// because the account reached its storage cap (B2's 403 storage_cap_exceeded).
// Reading, listing and deleting still work at the cap.
var ErrStorageCap = errors.New("storage cap exceeded")

// Version is one stored version of a key in a store that keeps versions.
type Version struct {
	Object        // Key, Size and Modified (upload time) of this version
	ID     string // the backend's id of this version
	// Hidden marks a hide marker (B2) or delete marker (S3): it has no
	// bytes, and while it is the newest version the key is absent from
	// Get, Stat and List.
	Hidden bool
	// RetainUntil is the object-lock retention of this version; zero when
	// it has none. LockMode is "governance" or "compliance" when set.
	RetainUntil time.Time
	LockMode    string
}

// Versioned is implemented by stores that keep older versions and hide
// markers (B2 always, S3 with versioning). It is how a snapshot hidden or
// overwritten by someone holding the backup host's key is found again.
type Versioned interface {
	// Versions calls fn for every version of every key starting with
	// prefix, hide markers included: keys in ascending order and, within a
	// key, newest version first. An error from fn stops it and is returned.
	Versions(ctx context.Context, prefix string, fn func(Version) error) error
	// GetVersion opens one version of key by its ID; fs.ErrNotExist when
	// there is no such version.
	GetVersion(ctx context.Context, key, id string) (io.ReadCloser, error)
}

// Lock is the Object Lock retention a store gives every object it writes
// (storage.lock in the configuration). The zero Lock is none.
type Lock struct {
	Mode string // Governance or Compliance; "" = no lock
	Days int    // retention of every written version, counted from its upload
}

// Lock modes.
const (
	Governance = "governance"
	Compliance = "compliance"
)

// Check reports a lock no store can apply; the zero Lock is fine.
func (l Lock) Check() error {
	switch {
	case l.Mode == "" && l.Days == 0:
		return nil
	case l.Mode != Governance && l.Mode != Compliance:
		return fmt.Errorf("lock mode %q is not governance or compliance", l.Mode)
	case l.Days < 1:
		return fmt.Errorf("lock days %d must be at least 1", l.Days)
	}
	return nil
}
