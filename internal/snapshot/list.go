package snapshot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"mbackup/internal/storage"
)

// StatusIncomplete marks a listed id without a manifest: an interrupted or
// failed run whose artifacts are garbage. It is never a snapshot.
const StatusIncomplete = "incomplete"

// Entry is one id found under snapshots/: a committed snapshot with its
// manifest, or leftovers of a run that committed nothing.
type Entry struct {
	ID       string
	Status   string    // complete, partial or incomplete
	Manifest *Manifest // nil when incomplete
	Keys     []string  // every stored key under the id, manifest included
	Bytes    int64     // stored bytes under the id
}

// List returns every id under snapshots/, newest first, reading each
// manifest. Keys under snapshots/ that are not a snapshot id are ignored.
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
	for i := range entries {
		e := &entries[i]
		if !slices.Contains(e.Keys, ManifestKey(e.ID)) {
			continue
		}
		m, err := Load(ctx, s, e.ID)
		if err != nil {
			return nil, err
		}
		e.Manifest, e.Status = m, m.Status
	}
	slices.Reverse(entries)
	return entries, nil
}

// Load reads and checks the manifest of snapshot id.
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
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("snapshot: load %s: manifest: %w", id, err)
	}
	switch {
	case m.Format > FormatVersion:
		return nil, fmt.Errorf("snapshot: load %s: manifest format %d is newer than this mbackup reads (%d): upgrade mbackup", id, m.Format, FormatVersion)
	case m.Format < 1 || m.ID != id:
		return nil, fmt.Errorf("snapshot: load %s: not a manifest of this snapshot (format %d, id %q)", id, m.Format, m.ID)
	case m.Status != StatusComplete && m.Status != StatusPartial:
		return nil, fmt.Errorf("snapshot: load %s: unknown status %q", id, m.Status)
	}
	return &m, nil
}
