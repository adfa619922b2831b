package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"mbackup/internal/sshsig"
	"mbackup/internal/storage"
)

// Versions. On a store that keeps versions (storage.Versioned), whoever
// holds the backup host's key can hide a snapshot (its names leave List)
// or upload a new manifest over it; the versions it had stay, and under
// object lock nobody with that key can delete them. mbackup writes every
// key of a snapshot once, so:
//   - a manifest whose newest version is a hide marker is hidden, and its
//     uploaded versions are still there to restore;
//   - a manifest with several uploaded versions whose bytes differ was
//     overwritten: the oldest version that verifies with the pinned signer
//     is the one the backup host committed, and the newer ones are suspect,
//     even when they verify (the signing key lives on the same host);
//   - an artifact is read from the newest uploaded version whose size (and,
//     where several have that size, stored SHA-256) matches the manifest.

// Signature verdicts of a manifest version.
const (
	SigValid     = "valid"     // a signature version verifies over its bytes with the pinned signer
	SigInvalid   = "invalid"   // signed, but no signature version verifies: forged or altered
	SigUnsigned  = "unsigned"  // the snapshot has no uploaded signature
	SigUnchecked = "unchecked" // no signer given, or a hide marker
)

// ManifestVersion is one stored version of a snapshot's manifest.
type ManifestVersion struct {
	storage.Version
	Signature string    // SigValid, SigInvalid, SigUnsigned or SigUnchecked
	Manifest  *Manifest // parsed from this version's bytes; nil for a hide marker or bytes that do not load
	Problem   string    // why the bytes do not load, or why they could not be read
	SHA256    string    // of its bytes; "" for a hide marker
	sigID     string    // the signature version that verifies
}

// Found is a snapshot id found among every version under snapshots/.
type Found struct {
	ID string
	// Manifests are the versions of its manifest, newest first, hide
	// markers included.
	Manifests []ManifestVersion
	// Hidden: the manifest's newest version is a hide marker (or it has
	// no version left but hide markers), so List does not see the
	// snapshot.
	Hidden bool
	// Overwritten: several uploaded versions of the manifest whose bytes
	// differ.
	Overwritten bool
	// Pick is the index in Manifests of the version a restore uses: the
	// oldest uploaded version that verifies (without a signer: that
	// loads); -1 when there is none.
	Pick int
	// HiddenArtifacts counts the keys under the id, other than the
	// manifest, whose newest version is a hide marker.
	HiddenArtifacts int
	// RewrittenArtifacts counts the keys under the id, other than the
	// manifest, with several uploaded versions: mbackup uploads each once.
	RewrittenArtifacts int
	// Missing are the picked manifest's artifact keys with no uploaded
	// version of the manifest's stored size.
	Missing []string
	// keys are every version of every key under the id, newest first.
	keys map[string][]storage.Version
}

// Picked is the manifest version a restore uses; nil when none verifies.
func (f *Found) Picked() *ManifestVersion {
	if f.Pick < 0 {
		return nil
	}
	return &f.Manifests[f.Pick]
}

// Date is when the snapshot says it was taken: its id's time, or the
// picked manifest's start when later.
func (f *Found) Date() time.Time {
	t, _ := ParseID(f.ID)
	if p := f.Picked(); p != nil && p.Manifest.Started.After(t) {
		return p.Manifest.Started
	}
	return t
}

// Forged counts the uploaded manifest versions whose signature does not
// verify (SigInvalid).
func (f *Found) Forged() int {
	n := 0
	for _, v := range f.Manifests {
		if v.Signature == SigInvalid {
			n++
		}
	}
	return n
}

// AsStored reports whether the store as listed shows the picked version
// as is: the manifest is not hidden, its newest version has the picked
// one's bytes (a retried upload of the same bytes is no overwrite), and
// no other key under the id is hidden, has several uploaded versions or
// lacks a version of its size. Then reading the store itself is reading
// the picked snapshot.
func (f *Found) AsStored() bool {
	return f.Pick >= 0 && !f.Hidden && !f.Overwritten && f.Manifests[0].SHA256 == f.Manifests[f.Pick].SHA256 &&
		f.HiddenArtifacts == 0 && f.RewrittenArtifacts == 0 && len(f.Missing) == 0
}

// FindAll finds every snapshot id among every version under snapshots/,
// newest id first, and reads every uploaded version of each manifest,
// verified with trusted (nil: not checked). Keys that are no snapshot's
// are ignored; ids without any manifest version are left out (an
// interrupted run's leftovers). Only a failure of the store fails it.
func FindAll(ctx context.Context, v storage.Versioned, trusted ssh.PublicKey) ([]*Found, error) {
	byID, ids, err := survey(ctx, v, Root)
	if err != nil {
		return nil, err
	}
	var out []*Found
	for _, id := range slices.Backward(ids) {
		f := &Found{ID: id, keys: byID[id]}
		if len(f.keys[ManifestKey(id)]) == 0 {
			continue
		}
		if err := f.examine(ctx, v, trusted); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// FindOne is FindAll for one id, listing only its keys; fs.ErrNotExist
// when its manifest has no version at all.
func FindOne(ctx context.Context, v storage.Versioned, id string, trusted ssh.PublicKey) (*Found, error) {
	if _, err := ParseID(id); err != nil {
		return nil, err
	}
	byID, _, err := survey(ctx, v, Root+id+"/")
	if err != nil {
		return nil, err
	}
	f := &Found{ID: id, keys: byID[id]}
	if len(f.keys[ManifestKey(id)]) == 0 {
		return nil, fmt.Errorf("snapshot: %s: no version of its manifest in the store: %w", id, fs.ErrNotExist)
	}
	return f, f.examine(ctx, v, trusted)
}

// survey lists every version under prefix once and groups them by
// snapshot id and key; ids come in ascending order.
func survey(ctx context.Context, v storage.Versioned, prefix string) (map[string]map[string][]storage.Version, []string, error) {
	byID := map[string]map[string][]storage.Version{}
	var ids []string
	err := v.Versions(ctx, prefix, func(ver storage.Version) error {
		id, _, _ := strings.Cut(strings.TrimPrefix(ver.Key, Root), "/")
		if _, err := ParseID(id); err != nil {
			return nil
		}
		if byID[id] == nil {
			byID[id] = map[string][]storage.Version{}
			ids = append(ids, id)
		}
		byID[id][ver.Key] = append(byID[id][ver.Key], ver)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("snapshot: list versions: %w", err)
	}
	return byID, ids, nil
}

// examine reads the manifest's versions and signatures, sets the flags,
// picks the version to restore and maps its artifacts.
func (f *Found) examine(ctx context.Context, v storage.Versioned, trusted ssh.PublicKey) error {
	sigs, err := f.signatures(ctx, v)
	if err != nil {
		return err
	}
	versions := f.keys[ManifestKey(f.ID)]
	sums := map[string]bool{}
	for _, ver := range versions {
		mv := ManifestVersion{Version: ver, Signature: SigUnchecked}
		if !ver.Hidden {
			if err := mv.read(ctx, v, f.ID, sigs, trusted); err != nil {
				return err
			}
			sums[mv.SHA256] = true
		}
		f.Manifests = append(f.Manifests, mv)
	}
	f.Hidden = versions[0].Hidden
	f.Overwritten = len(sums) > 1
	f.Pick = -1
	for i := len(f.Manifests) - 1; i >= 0; i-- {
		if m := f.Manifests[i]; m.Manifest != nil && (trusted == nil || m.Signature == SigValid) {
			f.Pick = i
			break
		}
	}
	for key, vs := range f.keys {
		if key == ManifestKey(f.ID) {
			continue
		}
		if vs[0].Hidden {
			f.HiddenArtifacts++
		}
		if uploadedCount(vs) > 1 {
			f.RewrittenArtifacts++
		}
	}
	if p := f.Picked(); p != nil {
		for _, a := range p.Manifest.Artifacts {
			if !slices.ContainsFunc(f.keys[a.Key], func(ver storage.Version) bool { return !ver.Hidden && ver.Size == a.StoredBytes }) {
				f.Missing = append(f.Missing, a.Key)
			}
		}
	}
	return nil
}

// sigVersion is one uploaded version of a manifest's signature.
type sigVersion struct {
	id    string
	bytes []byte
}

// signatures reads every uploaded version of the id's signature.
func (f *Found) signatures(ctx context.Context, v storage.Versioned) ([]sigVersion, error) {
	var out []sigVersion
	for _, ver := range f.keys[SignatureKey(f.ID)] {
		if ver.Hidden {
			continue
		}
		b, err := readVersion(ctx, v, ver, 64<<10)
		if err != nil {
			return nil, err
		}
		out = append(out, sigVersion{ver.ID, b})
	}
	return out, nil
}

// read reads one uploaded manifest version, parses it and checks it
// against every signature version. A version too large to be a manifest
// is a problem of that version, not an error.
func (mv *ManifestVersion) read(ctx context.Context, v storage.Versioned, id string, sigs []sigVersion, trusted ssh.PublicKey) error {
	if mv.Size > maxManifest {
		mv.Problem = fmt.Sprintf("%d bytes, larger than a manifest", mv.Size)
		return nil
	}
	data, err := readVersion(ctx, v, mv.Version, maxManifest)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	mv.SHA256 = hex.EncodeToString(sum[:])
	mv.Manifest, err = parse(id, data)
	if err != nil {
		mv.Problem = err.Error()
	}
	if trusted == nil {
		return nil
	}
	mv.Signature = SigUnsigned
	if len(sigs) > 0 {
		mv.Signature = SigInvalid
	}
	for _, s := range sigs {
		if sshsig.Verify(trusted, data, s.bytes) == nil {
			mv.Signature, mv.sigID = SigValid, s.id
			break
		}
	}
	return nil
}

// readVersion reads one version in full, failing past limit bytes.
func readVersion(ctx context.Context, v storage.Versioned, ver storage.Version, limit int64) ([]byte, error) {
	rc, err := v.GetVersion(ctx, ver.Key, ver.ID)
	if err != nil {
		return nil, fmt.Errorf("snapshot: read %s version %s: %w", ver.Key, ver.ID, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("larger than %d bytes", limit)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot: read %s version %s: %w", ver.Key, ver.ID, err)
	}
	return data, nil
}

// Survey is what one listing of every version under snapshots/ tells,
// without reading anything: the ids whose manifest's newest version is a
// hide marker, and those whose manifest has several uploaded versions
// (mbackup uploads each once), newest id first.
type Survey struct {
	Hidden      []string
	Overwritten []string
	// Dates are the ids' times, for a caller that weighs them against
	// the retention policy.
	Dates map[string]time.Time
}

// SurveyVersions lists every version under snapshots/ once (status stays
// fast) and returns what it shows.
func SurveyVersions(ctx context.Context, v storage.Versioned) (Survey, error) {
	byID, ids, err := survey(ctx, v, Root)
	if err != nil {
		return Survey{}, err
	}
	s := Survey{Dates: map[string]time.Time{}}
	for _, id := range slices.Backward(ids) {
		vs := byID[id][ManifestKey(id)]
		if len(vs) == 0 {
			continue
		}
		s.Dates[id], _ = ParseID(id)
		if vs[0].Hidden {
			s.Hidden = append(s.Hidden, id)
		}
		if uploadedCount(vs) > 1 {
			s.Overwritten = append(s.Overwritten, id)
		}
	}
	return s, nil
}

// uploadedCount counts the versions that are not hide markers.
func uploadedCount(vs []storage.Version) int {
	n := 0
	for _, ver := range vs {
		if !ver.Hidden {
			n++
		}
	}
	return n
}

// ErrVersionNotFound is wrapped when a --version id is not a version of
// the snapshot's manifest.
var ErrVersionNotFound = errors.New("no such version of the manifest")
