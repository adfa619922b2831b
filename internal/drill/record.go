package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"mbackup/internal/redact"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// Records are kept in the store, next to the snapshots, so that the backup
// host (which cannot drill: it holds no identity) shows the last drill in
// status, Slack and its metrics, and so that they survive restarts.
//
// Invariants of the records:
//   - A record is one small JSON object at drills/<finished>-<snapshot id>.json,
//     <finished> the UTC time the drill ended as 20060102T150405Z, so that keys
//     sort by time. It holds names, counts, durations and redacted error
//     texts: never a secret and never any of the data restored.
//   - A record is written once, whole (Store.Put leaves nothing visible when
//     it fails), and read with a size limit; one that does not parse is
//     skipped and counted by Latest, never taken as a drill.
//   - Trim keeps the newest RecordsKept records and every record younger
//     than RecordsMaxAge, and always the newest successful one.
//   - Records are not signed: a host that can write the store can forge one.
//     They report; they are not what a restore trusts.

// RecordsPrefix is the key prefix of the drill records.
const RecordsPrefix = "drills/"

// RecordFormat is the record format this package writes and reads.
const RecordFormat = 1

// Retention of the records by Trim.
const (
	RecordsKept   = 20
	RecordsMaxAge = 90 * 24 * time.Hour
)

// maxRecord is the largest record read.
const maxRecord = 1 << 20

const keyTime = "20060102T150405Z"

// Record is the stored account of one drill.
type Record struct {
	Format   int       `json:"format"`
	Host     string    `json:"host"` // the machine that drilled
	Tool     string    `json:"tool"`
	Snapshot string    `json:"snapshot"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	// ComponentSeconds is the restore time of each component (postgres,
	// mysql, redis, files): with the servers' start, the RTO of the
	// snapshot on that machine.
	ComponentSeconds map[string]float64 `json:"component_seconds,omitempty"`
	// Result is the drill's own account, step by step.
	Result json.RawMessage `json:"result,omitempty"`

	key string // where it was read from or written to
}

// Duration is how long the drill took: the RTO of its snapshot on its
// machine.
func (r *Record) Duration() time.Duration { return r.Finished.Sub(r.Started) }

// Key is the key the record was read from or saved under.
func (r *Record) Key() string { return r.key }

// recordKey is the key of r.
func recordKey(r *Record) (string, error) {
	if _, err := snapshot.ParseID(r.Snapshot); err != nil {
		return "", fmt.Errorf("drill: record: %w", err)
	}
	return RecordsPrefix + r.Finished.UTC().Format(keyTime) + "-" + r.Snapshot + ".json", nil
}

// Save writes r to the store. Its error text is redacted first.
func Save(ctx context.Context, s storage.Store, r *Record) error {
	key, err := recordKey(r)
	if err != nil {
		return err
	}
	r.Format = RecordFormat
	r.Error = redact.Patterns(r.Error, "[redacted]")
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("drill: record %s: %w", key, err)
	}
	if len(data) > maxRecord {
		return fmt.Errorf("drill: record %s: %d bytes, more than %d", key, len(data), maxRecord)
	}
	if _, err := s.Put(ctx, key, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("drill: save record %s: %w", key, err)
	}
	r.key = key
	return nil
}

// Found is what Latest read from the store.
type Found struct {
	Last       *Record // the newest readable record; nil when there is none
	LastOK     *Record // the newest successful one; nil when there is none
	Records    int     // records listed
	Unreadable int     // records that did not load (skipped)
}

// Latest reads the newest record and the newest successful one. Records
// are read newest first until both are found.
func Latest(ctx context.Context, s storage.Store) (Found, error) {
	keys, err := recordKeys(ctx, s)
	if err != nil {
		return Found{}, err
	}
	f := Found{Records: len(keys)}
	for i := len(keys) - 1; i >= 0 && f.LastOK == nil; i-- {
		r, err := load(ctx, s, keys[i])
		if err != nil {
			if ctx.Err() != nil {
				return f, err
			}
			f.Unreadable++
			continue
		}
		if f.Last == nil {
			f.Last = r
		}
		if r.OK {
			f.LastOK = r
		}
	}
	return f, nil
}

// recordKeys lists the records' keys, oldest first.
func recordKeys(ctx context.Context, s storage.Store) ([]string, error) {
	var keys []string
	err := s.List(ctx, RecordsPrefix, func(o storage.Object) error {
		if strings.HasSuffix(o.Key, ".json") && !strings.Contains(o.Key[len(RecordsPrefix):], "/") {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("drill: list records: %w", err)
	}
	return keys, nil
}

// load reads and checks the record at key.
func load(ctx context.Context, s storage.Store, key string) (*Record, error) {
	rc, err := s.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("drill: read record %s: %w", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxRecord+1))
	if err != nil {
		return nil, fmt.Errorf("drill: read record %s: %w", key, err)
	}
	if len(data) > maxRecord {
		return nil, fmt.Errorf("drill: record %s: larger than %d bytes", key, maxRecord)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("drill: record %s: %w", key, err)
	}
	if r.Format != RecordFormat {
		return nil, fmt.Errorf("drill: record %s: format %d, this mbackup reads %d", key, r.Format, RecordFormat)
	}
	if want, err := recordKey(&r); err != nil || want != key {
		return nil, fmt.Errorf("drill: record %s: its snapshot and time do not match its key", key)
	}
	r.key = key
	return &r, nil
}

// Trim deletes the records beyond RecordsKept that are older than
// RecordsMaxAge at now, never the newest successful one (keep). It returns
// how many it deleted.
func Trim(ctx context.Context, s storage.Store, now time.Time, keep *Record) (int, error) {
	keys, err := recordKeys(ctx, s)
	if err != nil {
		return 0, err
	}
	deleted := 0
	var errs []error
	for i, k := range keys {
		if len(keys)-i <= RecordsKept {
			break
		}
		if keep != nil && k == keep.key {
			continue
		}
		t, err := time.Parse(keyTime, strings.SplitN(k[len(RecordsPrefix):], "-", 2)[0])
		if err != nil || now.Sub(t) < RecordsMaxAge {
			continue
		}
		if err := s.Delete(ctx, k); err != nil {
			errs = append(errs, fmt.Errorf("drill: trim record %s: %w", k, err))
			continue
		}
		deleted++
	}
	return deleted, errors.Join(errs...)
}

// Line says what f holds in one line for status and Slack, such as
// "last drill: ok 5h ago, RTO 14m (snapshot 20261201T120000Z-abcdef, on
// verifier)"; "" when the store holds no drill record.
func (f Found) Line(now time.Time) string {
	switch {
	case f.Last == nil:
		return ""
	case f.Last.OK:
		return fmt.Sprintf("last drill: ok %s ago, RTO %s (snapshot %s, on %s)", since(now, f.Last.Finished),
			f.Last.Duration().Round(time.Second), f.Last.Snapshot, f.Last.Host)
	}
	line := fmt.Sprintf("last drill: FAILED %s ago (snapshot %s, on %s): %s", since(now, f.Last.Finished),
		f.Last.Snapshot, f.Last.Host, firstLine(f.Last.Error))
	if f.LastOK == nil {
		return line + "; no drill in the store succeeded"
	}
	return line + "; the last successful one " + since(now, f.LastOK.Finished) + " ago"
}

// since is now-t in whole minutes, hours or days.
func since(now, t time.Time) string {
	d := max(now.Sub(t), 0)
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
