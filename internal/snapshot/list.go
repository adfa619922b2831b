package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"mbackup/internal/storage"
)

// Statuses of a listed id that are not a manifest's.
const (
	// StatusIncomplete marks an id without a manifest: an interrupted or
	// failed run whose artifacts are garbage. It is never a snapshot.
	StatusIncomplete = "incomplete"
	// StatusUnreadable marks an id whose manifest exists but does not load
	// (not JSON, another id, an unknown status, keys outside its directory
	// or repeated). It is not garbage either: nothing deletes it.
	StatusUnreadable = "unreadable"
	// StatusNewerFormat marks an id whose manifest is of a format newer
	// than this mbackup reads: a newer mbackup's snapshot, left alone.
	StatusNewerFormat = "newer-format"
)

// ErrUnreadable is wrapped by Load's error for a manifest that exists but
// does not load; ErrNewerFormat for one of a newer format.
var (
	ErrUnreadable  = errors.New("unreadable manifest")
	ErrNewerFormat = errors.New("manifest of a newer format")
)

// FutureSkew is how far after the clock a snapshot may be dated before it
// is taken for a wrong clock or a forgery: such a snapshot is flagged
// Future and is never the newest good one, nor counted by retention.
const FutureSkew = time.Hour

// Entry is one id found under snapshots/: a committed snapshot with its
// manifest, a manifest that does not load, or leftovers of a run that
// committed nothing.
type Entry struct {
	ID       string
	Status   string    // complete, partial, incomplete, unreadable or newer-format
	Manifest *Manifest // nil unless complete or partial
	Reason   string    // why unreadable or newer-format: "unreadable manifest: unexpected EOF"
	// Future is set when the snapshot is dated (by its id or its
	// manifest's start) more than FutureSkew after the clock of List.
	Future bool
	Keys   []string // every stored key under the id, manifest included
	Bytes  int64    // stored bytes under the id
}

// Date is when e says it was taken: the later of its id's time and its
// manifest's start.
func (e Entry) Date() time.Time {
	t, _ := ParseID(e.ID)
	if e.Manifest != nil && e.Manifest.Started.After(t) {
		return e.Manifest.Started
	}
	return t
}

// FutureAt reports whether e is dated more than FutureSkew after now.
func (e Entry) FutureAt(now time.Time) bool {
	return e.Date().Sub(now) > FutureSkew
}

// Hint says what to do about an unreadable or newer-format entry; "" for
// any other.
func (e Entry) Hint() string {
	switch e.Status {
	case StatusNewerFormat:
		return "a newer mbackup wrote it: upgrade mbackup to read it"
	case StatusUnreadable:
		return "its manifest is damaged or forged: restore another snapshot, and delete " + Root + e.ID + "/ by hand once you have looked at it"
	}
	return ""
}

// Good reports whether e is a complete snapshot dated no more than
// FutureSkew after now.
func (e Entry) Good(now time.Time) bool {
	return e.Status == StatusComplete && e.Manifest != nil && !e.FutureAt(now)
}

// NewestGood returns the newest complete snapshot of entries that is not
// dated in the future (see FutureSkew), by id; false when there is none.
// It is the one choice of "the newest good snapshot" for status, metrics,
// the daemon's catch-up and a restore or verify without an id.
func NewestGood(entries []Entry, now time.Time) (Entry, bool) {
	var best Entry
	found := false
	for _, e := range entries {
		if e.Good(now) && (!found || e.ID > best.ID) {
			best, found = e, true
		}
	}
	return best, found
}

// List returns every id under snapshots/, newest first, reading each
// manifest. Keys under snapshots/ that are not a snapshot id are ignored.
// A manifest that does not load makes its entry unreadable or
// newer-format, with the reason; only a failure of the store (listing, or
// reading a manifest) fails List.
func List(ctx context.Context, s storage.Store) ([]Entry, error) {
	var entries []Entry
	err := s.List(ctx, Root, func(o storage.Object) error {
		id, _, _ := strings.Cut(strings.TrimPrefix(o.Key, Root), "/")
		if _, err := ParseID(id); err != nil {
			return nil
		}
		if len(entries) == 0 || entries[len(entries)-1].ID != id {
			entries = append(entries, Entry{ID: id, Status: StatusIncomplete})
		}
		e := &entries[len(entries)-1]
		e.Keys = append(e.Keys, o.Key)
		e.Bytes += o.Size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot: list: %w", err)
	}
	now := time.Now()
	for i := range entries {
		if err := entries[i].load(ctx, s, now); err != nil {
			return nil, err
		}
	}
	slices.Reverse(entries)
	return entries, nil
}

// load reads the manifest of a listed entry that has one.
func (e *Entry) load(ctx context.Context, s storage.Store, now time.Time) error {
	defer func() { e.Future = e.FutureAt(now) }()
	if !slices.Contains(e.Keys, ManifestKey(e.ID)) {
		return nil
	}
	m, err := Load(ctx, s, e.ID)
	reason := func() string { return strings.TrimPrefix(err.Error(), "snapshot: load "+e.ID+": ") }
	switch {
	case err == nil:
		e.Manifest, e.Status = m, m.Status
	case errors.Is(err, ErrNewerFormat):
		e.Status, e.Reason = StatusNewerFormat, reason()
	case errors.Is(err, ErrUnreadable):
		e.Status, e.Reason = StatusUnreadable, reason()
	case errors.Is(err, fs.ErrNotExist):
		// Deleted since the listing (a prune): what is left is garbage.
	default:
		return err
	}
	return nil
}

// Load reads and checks the manifest of snapshot id. An error reading it
// from the store is returned as is; a manifest that does not load wraps
// ErrUnreadable or ErrNewerFormat.
func Load(ctx context.Context, s storage.Store, id string) (*Manifest, error) {
	if _, err := ParseID(id); err != nil {
		return nil, err
	}
	data, err := readAll(ctx, s, ManifestKey(id), maxManifest)
	if err != nil {
		return nil, fmt.Errorf("snapshot: load %s: %w", id, err)
	}
	return decodeManifest(id, data)
}

// maxManifest is the largest manifest read: about 100,000 artifacts.
const maxManifest = 64 << 20

// readAll reads the object at key, failing when it is larger than limit.
func readAll(ctx context.Context, s storage.Store, key string, limit int64) ([]byte, error) {
	rc, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", key, limit)
	}
	return data, nil
}

// decodeManifest parses and checks the manifest of snapshot id.
func decodeManifest(id string, data []byte) (*Manifest, error) {
	m, err := parse(id, data)
	if err != nil {
		return nil, fmt.Errorf("snapshot: load %s: %w", id, err)
	}
	return m, nil
}

// parse decodes and checks the manifest of id.
func parse(id string, b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	switch {
	case m.Format > FormatVersion:
		return nil, fmt.Errorf("%w: format %d is newer than this mbackup reads (%d): upgrade mbackup", ErrNewerFormat, m.Format, FormatVersion)
	case m.Format < 1 || m.ID != id:
		return nil, fmt.Errorf("%w: not a manifest of this snapshot (format %d, id %q)", ErrUnreadable, m.Format, m.ID)
	case m.Status != StatusComplete && m.Status != StatusPartial:
		return nil, fmt.Errorf("%w: unknown status %q", ErrUnreadable, m.Status)
	}
	if err := CheckKeys(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	return &m, nil
}
