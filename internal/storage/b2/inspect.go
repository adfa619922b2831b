package b2

import (
	"context"
	"fmt"
	"slices"
)

// Access is what the application key may do and how the bucket is set up,
// for "mbackup check".
type Access struct {
	// Capabilities are the key's capabilities (listFiles, readFiles, ...).
	Capabilities []string
	// KeyBucket is the bucket the key is restricted to; "" for any bucket.
	KeyBucket string
	// KeyPrefix is the file name prefix the key is restricted to, if any.
	KeyPrefix string
	// Encryption is the bucket's default server-side encryption mode
	// ("SSE-B2"), "" when off.
	Encryption string
	// EncryptionReadable is false when the key may not read the setting
	// (it lacks readBucketEncryption).
	EncryptionReadable bool

	// FileLockEnabled tells whether the bucket has file lock (Object Lock)
	// enabled; false also when FileLockReadable is false.
	FileLockEnabled bool
	// FileLockReadable is false when the key may not read the bucket's
	// lock configuration (it lacks readBucketRetentions).
	FileLockReadable bool
	// DefaultMode is the bucket's default retention mode ("governance" or
	// "compliance"), "" if none.
	DefaultMode string
	// DefaultDays is the bucket's default retention in days (a year counts
	// 365), 0 if none.
	DefaultDays int
	// Lifecycle are the bucket's lifecycle rules.
	Lifecycle []LifecycleRule
}

// LifecycleRule is one of a bucket's lifecycle rules; a zero day count
// means the rule does not set it.
type LifecycleRule struct {
	Prefix                    string // fileNamePrefix the rule applies to
	DaysFromHidingToDeleting  int    // days after a version is hidden or superseded until it is deleted
	DaysFromUploadingToHiding int    // days after an upload until the name is hidden
}

// Needed are the capabilities mbackup uses without a lock: listing,
// reading back, uploading and deleting (prune).
var Needed = []string{"listFiles", "readFiles", "writeFiles", "deleteFiles"}

// Missing returns the Needed capabilities the key lacks.
func (a Access) Missing() []string { return missing(a.Capabilities, Needed) }

// NeededFor returns the capabilities mbackup needs with lock l: listing,
// reading back and uploading always; deleteFiles unless hide is true
// (prune then hides names with b2_hide_file, which needs only writeFiles,
// and a lifecycle rule deletes them); with a lock, writeFileRetentions to
// set each version's retention on upload and readFileRetentions to see
// it when listing versions. bypassGovernance is never needed: a key that
// has it can delete governance-locked versions, which the lock is meant to
// prevent.
func NeededFor(l Lock, hide bool) []string {
	caps := []string{"listFiles", "readFiles", "writeFiles"}
	if !hide {
		caps = append(caps, "deleteFiles")
	}
	if l.Mode != "" {
		caps = append(caps, "readFileRetentions", "writeFileRetentions")
	}
	return caps
}

// MissingFor returns the capabilities NeededFor(l, hide) lists that the
// key lacks, where hide is whether the key lacks deleteFiles (the store
// then hides instead of deleting).
func (a Access) MissingFor(l Lock) []string {
	hide := !slices.Contains(a.Capabilities, "deleteFiles")
	return missing(a.Capabilities, NeededFor(l, hide))
}

func missing(have, need []string) []string {
	var m []string
	for _, c := range need {
		if !slices.Contains(have, c) {
			m = append(m, c)
		}
	}
	return m
}

// Inspect asks B2 what the key may do (b2_authorize_account) and how the
// bucket is configured (b2_list_buckets). It speaks the v3 API directly:
// blazer v0.7.2 reads neither the key's capabilities, nor the v3 shape of
// defaultServerSideEncryption and fileLockConfiguration
// ({isClientAuthorizedToRead, value}), nor a bucket whose default
// retention is {"mode": null, "period": null} safely.
func (s *Store) Inspect(ctx context.Context) (Access, error) {
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	se, err := s.authorize(ctx)
	if err != nil {
		return Access{}, fmt.Errorf("b2: inspect: authorize: %w", cause(ctx, err))
	}
	a := Access{Capabilities: se.caps, KeyBucket: se.keyBucket, KeyPrefix: se.keyPrefix}
	bk, err := s.listBucket(ctx, se)
	if err != nil {
		return a, fmt.Errorf("b2: inspect: %w", cause(ctx, err))
	}
	a.EncryptionReadable = bk.SSE.Readable
	if bk.SSE.Value != nil && bk.SSE.Value.Mode != nil {
		a.Encryption = *bk.SSE.Value.Mode
	}
	a.FileLockReadable = bk.Lock.Readable
	if bk.Lock.Value != nil {
		a.FileLockEnabled = bk.Lock.Value.Enabled
	}
	a.DefaultMode, a.DefaultDays = bk.defaultRetention()
	for _, r := range bk.Lifecycle {
		a.Lifecycle = append(a.Lifecycle, LifecycleRule{Prefix: r.Prefix,
			DaysFromHidingToDeleting: derefInt(r.ToDelete), DaysFromUploadingToHiding: derefInt(r.ToHide)})
	}
	return a, nil
}

func derefInt(n *int) int {
	if n == nil {
		return 0
	}
	return *n
}
