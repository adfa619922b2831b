package shrink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// AcceptedRoot is the key prefix of acceptances: outside snapshot.Root.
const AcceptedRoot = "shrink-accepted/"

// AcceptedKey is the key of the acceptance of the shrink flagged in
// snapshot id.
func AcceptedKey(id string) string { return AcceptedRoot + id + ".json" }

// Acceptance is what an admin's accept-shrink records.
type Acceptance struct {
	Snapshot   string    `json:"snapshot"`    // the flagged snapshot
	Previous   []string  `json:"previous"`    // the snapshots it held
	AcceptedBy string    `json:"accepted_by"` // user@host
	AcceptedAt time.Time `json:"accepted_at"`
}

// ErrNotFlagged is wrapped by Accept's error for a snapshot the guard
// flagged nothing in.
var ErrNotFlagged = errors.New("no shrink flagged")

// Accept records that the drop flagged in m is expected, releasing the
// snapshots it held for retention. It returns false, writing nothing,
// when the drop was already accepted.
func Accept(ctx context.Context, s storage.Store, m *snapshot.Manifest, by string, at time.Time) (bool, error) {
	if len(m.Shrunk) == 0 {
		return false, fmt.Errorf("shrink: accept %s: %w in this snapshot", m.ID, ErrNotFlagged)
	}
	key := AcceptedKey(m.ID)
	if _, err := s.Stat(ctx, key); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("shrink: accept %s: %w", m.ID, err)
	}
	a := Acceptance{Snapshot: m.ID, Previous: Held(m), AcceptedBy: by, AcceptedAt: at.UTC()}
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return false, fmt.Errorf("shrink: accept %s: %w", m.ID, err)
	}
	if _, err := s.Put(ctx, key, bytes.NewReader(append(b, '\n'))); err != nil {
		return false, fmt.Errorf("shrink: accept %s: %w", m.ID, err)
	}
	return true, nil
}

// Held returns the ids of the snapshots m's flags name, each once.
func Held(m *snapshot.Manifest) []string {
	var out []string
	for _, s := range m.Shrunk {
		if len(out) == 0 || out[len(out)-1] != s.Previous {
			out = append(out, s.Previous)
		}
	}
	return out
}

// Accepted returns the ids of the snapshots whose shrink was accepted.
func Accepted(ctx context.Context, s storage.Store) (map[string]bool, error) {
	ids := map[string]bool{}
	err := s.List(ctx, AcceptedRoot, func(o storage.Object) error {
		id, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, AcceptedRoot), ".json")
		if _, err := snapshot.ParseID(id); ok && err == nil {
			ids[id] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("shrink: list acceptances: %w", err)
	}
	return ids, nil
}
