// Package snapshot composes dumps, the stream pipeline and a store into
// snapshots, and reads them back.
//
// Invariants:
//   - A snapshot exists only when snapshots/<id>/manifest.json exists. It is
//     written last, after every producer exited and every upload was
//     confirmed; an interrupted run leaves artifacts without a manifest,
//     which List reports as "incomplete" and never as a snapshot.
//   - An artifact is referenced by a manifest only if its producer exited
//     successfully, its stream was sealed and the store confirmed the upload
//     with the size the stream counted. A failed job is listed under
//     "failed" with its reason and none of its bytes are referenced; the
//     manifest's status is then "partial".
//   - A producer that writes nothing for Taker.StallTimeout while none of
//     its writes is held back by the store is killed, and fails its job.
//   - IDs sort by time: "20261122T120000Z-" and 6 random hex digits.
//   - An artifact's key is snapshots/<id>/ followed by its artifact.Ref's
//     Path (its component, then its name encoded): no name can leave the snapshot's
//     directory or meet another artifact's key. Take commits no manifest
//     whose keys are not distinct and inside that directory, and Load
//     (and so List) reads none: such a manifest is "unreadable". Readers
//     use the key stored in the manifest, never one computed again, so
//     snapshots of any format-1 key scheme keep loading.
//   - List never fails because of one manifest: one that does not load is
//     listed "unreadable" (or "newer-format") with its reason, and is
//     never garbage. A snapshot dated more than FutureSkew ahead of the
//     clock is flagged Future and NewestGood never picks it.
//   - With a Signer, the manifest's signature (manifest.json.sig) is
//     written before the manifest, so a committed signed snapshot always
//     has it; Authenticate trusts a manifest only by that signature, and
//     returns the manifest parsed from the very bytes it verified.
package snapshot

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"mbackup/internal/artifact"
	"mbackup/internal/dump"
	"mbackup/internal/storage"
	"mbackup/internal/stream"
)

// FormatVersion is the manifest format this package writes and reads.
const FormatVersion = 1

// Status values of a manifest.
const (
	StatusComplete = "complete"
	StatusPartial  = "partial"
)

// Manifest is the JSON document that commits a snapshot.
type Manifest struct {
	Format     int        `json:"format"`
	ID         string     `json:"id"`
	Tool       string     `json:"tool"`
	Host       string     `json:"host"`
	Status     string     `json:"status"`
	Started    time.Time  `json:"started"`
	Finished   time.Time  `json:"finished"`
	Recipients []string   `json:"recipients"` // fingerprints, see Fingerprint
	Artifacts  []Artifact `json:"artifacts"`
	Failed     []Failure  `json:"failed,omitempty"`
	// Signer is the SHA256 fingerprint of the key that signed the
	// manifest (ssh-keygen -l prints it); empty when unsigned. It only
	// names the key: trust comes from the signature and the pinned key.
	Signer string `json:"signer,omitempty"`
	// Shrunk lists the artifacts much smaller than (or missing from) the
	// newest complete snapshot before this one, as Taker.Review found
	// them; retention keeps that previous snapshot until the shrink is
	// accepted. Additive: older readers ignore it.
	Shrunk []Shrink `json:"shrunk,omitempty"`
	// Notes are remarks on the snapshot as a whole, such as a check that
	// could not be made ("shrink guard not applied: ...").
	Notes []string `json:"notes,omitempty"`
}

// Shrink is one artifact flagged by the shrink guard: its plaintext bytes
// (or, for files, its file count) fell below the threshold share of the
// same artifact (component and name) in snapshot Previous, or it is
// missing while its component was taken and did not fail.
type Shrink struct {
	Component   string `json:"component"`
	Name        string `json:"name"`
	BeforeBytes int64  `json:"before_bytes"`
	AfterBytes  int64  `json:"after_bytes"`            // 0 when missing
	BeforeFiles int64  `json:"before_files,omitempty"` // files: file_count
	AfterFiles  int64  `json:"after_files,omitempty"`
	Missing     bool   `json:"missing,omitempty"`
	Previous    string `json:"previous"` // id of the snapshot compared with
}

// Artifact is one sealed stream of a snapshot.
type Artifact struct {
	Key       string `json:"key"`       // relative to the store's root
	Component string `json:"component"` // postgres, redis, mysql, files
	Name      string `json:"name"`      // database, "globals", the Redis name or the files entry
	dump.Info
	stream.Sums
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
}

// Failure is a job that produced nothing usable.
type Failure struct {
	Component string `json:"component"`
	Name      string `json:"name"`
	Reason    string `json:"reason"`
}

// Bytes is the stored size of all artifacts.
func (m *Manifest) Bytes() int64 {
	var n int64
	for _, a := range m.Artifacts {
		n += a.StoredBytes
	}
	return n
}

var idRE = regexp.MustCompile(`^(\d{8}T\d{6}Z)-[0-9a-f]{6}$`)

// NewID returns a new snapshot id for the time t.
func NewID(t time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// ParseID returns the time of a snapshot id, or an error if id is not one.
func ParseID(id string) (time.Time, error) {
	m := idRE.FindStringSubmatch(id)
	if m == nil {
		return time.Time{}, fmt.Errorf("snapshot: %q is not a snapshot id (like 20261122T120000Z-1a2b3c)", id)
	}
	return time.Parse("20060102T150405Z", m[1])
}

// Root is the key prefix under which snapshots live.
const Root = "snapshots/"

// ManifestKey is the key of the manifest of snapshot id.
func ManifestKey(id string) string { return Root + id + "/manifest.json" }

// ArtifactKey is the key of one artifact: snapshots/<id>/ followed by
// artifact.Ref.Path, snapshots/<id>/<component>/<encoded name><ext>.zst.age.
// Readers use the key a manifest holds and never compute it again.
func ArtifactKey(id, component, name, ext string) string {
	return Key(id, artifact.Ref{Component: artifact.Component(component), Name: name, Kind: artifact.Kind(strings.TrimPrefix(ext, "."))})
}

// Key is the key of artifact r of snapshot id.
func Key(id string, r artifact.Ref) string { return Root + id + "/" + r.Path() }

// Ref is the typed name of a: its component, name and kind (read from its
// key).
func (a Artifact) Ref() artifact.Ref {
	return artifact.Ref{Component: artifact.Component(a.Component), Name: a.Name, Kind: artifact.KindOf(a.Key)}
}

// Components names what m holds, in its order: "postgres(3)", "redis(1)",
// then "mysql(failed)" once for each component with a failed job.
func (m *Manifest) Components() []string {
	if m == nil {
		return nil
	}
	count := map[string]int{}
	var order []string
	for _, a := range m.Artifacts {
		if count[a.Component] == 0 {
			order = append(order, a.Component)
		}
		count[a.Component]++
	}
	var out []string
	for _, c := range order {
		out = append(out, fmt.Sprintf("%s(%d)", c, count[c]))
	}
	for _, f := range m.Failed {
		if s := f.Component + "(failed)"; !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// CheckKeys returns an error naming the first artifact of m whose key is
// not a valid store key inside snapshots/<m.ID>/, is the manifest's own
// key, or is the key of another artifact.
func CheckKeys(m *Manifest) error {
	dir := Root + m.ID + "/"
	seen := make(map[string]bool, len(m.Artifacts))
	for _, a := range m.Artifacts {
		what := fmt.Sprintf("artifact %s %q: key %q", a.Component, a.Name, a.Key)
		switch {
		case !strings.HasPrefix(a.Key, dir):
			return fmt.Errorf("%s is outside %s", what, dir)
		case storage.ValidKey(a.Key) != nil:
			return fmt.Errorf("%s: %w", what, storage.ValidKey(a.Key))
		case a.Key == ManifestKey(m.ID):
			return fmt.Errorf("%s is the manifest's", what)
		case seen[a.Key]:
			return fmt.Errorf("%s is also another artifact's", what)
		}
		seen[a.Key] = true
	}
	return nil
}

// Fingerprint is the first 16 hex digits of the SHA-256 of a recipient's
// text form: printf %s age1... | sha256sum | cut -c1-16
func Fingerprint(recipient string) string {
	s := sha256.Sum256([]byte(recipient))
	return hex.EncodeToString(s[:8])
}
