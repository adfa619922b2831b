package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/ssh"

	"mbackup/internal/config"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// versionsDoc is what "mbackup list --all-versions --json" prints.
type versionsDoc struct {
	Snapshots []versionsEntry `json:"snapshots"` // newest id first
	// Signer is the fingerprint of the pinned signer the versions were
	// checked with; "" when none is configured (signature "unchecked").
	Signer  string   `json:"signer"`
	Summary []string `json:"summary"` // the lines printed under the table
}

// versionsEntry is one snapshot id found among every stored version.
type versionsEntry struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// Hidden: its manifest's newest version is a hide marker: list,
	// status and prune do not see it.
	Hidden bool `json:"hidden"`
	// Overwritten: several uploaded versions of its manifest differ.
	Overwritten bool `json:"overwritten"`
	// ForgedVersions counts manifest versions whose signature fails.
	ForgedVersions int `json:"forged_versions"`
	// HiddenFiles and RewrittenFiles count its other keys (signature,
	// artifacts) whose newest version is a hide marker, or that have
	// several uploaded versions.
	HiddenFiles    int `json:"hidden_files"`
	RewrittenFiles int `json:"rewritten_files"`
	// UseVersion is the manifest version restore ID and verify ID read
	// (the oldest that verifies); "" when none does.
	UseVersion string `json:"use_version"`
	Status     string `json:"status"` // of that version's manifest: complete or partial; "" without one
	// MissingArtifacts are the keys of that manifest's artifacts with no
	// uploaded version of its stored size.
	MissingArtifacts []string `json:"missing_artifacts"`
	// Restorable: a version verifies and every artifact it names has a
	// version of its size.
	Restorable bool                  `json:"restorable"`
	Versions   []manifestVersionJSON `json:"versions"` // newest first
}

// manifestVersionJSON is one stored version of a manifest.
type manifestVersionJSON struct {
	VersionID   string     `json:"version_id"`
	Uploaded    time.Time  `json:"uploaded"`
	Hidden      bool       `json:"hidden"` // a hide marker
	Bytes       int64      `json:"bytes"`
	SHA256      string     `json:"sha256"`
	Signature   string     `json:"signature"` // valid, invalid, unsigned or unchecked
	Error       string     `json:"error"`     // why its bytes do not load
	RetainUntil *time.Time `json:"retain_until"`
	LockMode    string     `json:"lock_mode"`
}

// listVersions is "mbackup list --all-versions".
func listVersions(ctx context.Context, e *env, cfg *config.Config, s storage.Store, asJSON bool) error {
	v, ok := s.(storage.Versioned)
	if !ok {
		return usagef("list --all-versions: a %s store keeps no versions of its objects (b2 does)", cfg.Storage.Type)
	}
	signer, err := cfg.Encryption.TrustedSigner()
	if errors.Is(err, config.ErrNoSigner) {
		signer, err = nil, nil
	}
	if err != nil {
		return err
	}
	found, err := snapshot.FindAll(ctx, v, signer)
	if err != nil {
		return err
	}
	doc := versionsDoc{Snapshots: []versionsEntry{}, Signer: fingerprint(signer)}
	for _, f := range found {
		doc.Snapshots = append(doc.Snapshots, versionsEntryOf(f))
	}
	doc.Summary = versionsSummary(doc.Snapshots, cfg.Retention.KeepWithin.Std(), time.Now())
	if asJSON {
		return printJSON(e.stdout, doc)
	}
	printVersions(e.stdout, doc)
	return nil
}

func fingerprint(k ssh.PublicKey) string {
	if k == nil {
		return ""
	}
	return ssh.FingerprintSHA256(k)
}

func versionsEntryOf(f *snapshot.Found) versionsEntry {
	en := versionsEntry{ID: f.ID, Time: f.Date().UTC(), Hidden: f.Hidden, Overwritten: f.Overwritten, ForgedVersions: f.Forged(),
		HiddenFiles: f.HiddenArtifacts, RewrittenFiles: f.RewrittenArtifacts, MissingArtifacts: orEmpty(f.Missing),
		Versions: []manifestVersionJSON{}}
	if p := f.Picked(); p != nil {
		en.UseVersion, en.Status, en.Restorable = p.ID, p.Manifest.Status, len(f.Missing) == 0
	}
	for _, m := range f.Manifests {
		j := manifestVersionJSON{VersionID: m.ID, Uploaded: m.Modified.UTC(), Hidden: m.Hidden, Bytes: m.Size,
			SHA256: m.SHA256, Signature: m.Signature, Error: m.Problem, LockMode: m.LockMode}
		if !m.RetainUntil.IsZero() {
			t := m.RetainUntil.UTC()
			j.RetainUntil = &t
		}
		en.Versions = append(en.Versions, j)
	}
	return en
}

// state is what list --all-versions says of en, in a few words.
func (en versionsEntry) state() string {
	var s []string
	if en.Hidden {
		s = append(s, "HIDDEN")
	}
	if en.Overwritten {
		s = append(s, "OVERWRITTEN")
	}
	if en.ForgedVersions > 0 {
		s = append(s, fmt.Sprintf("%d FORGED", en.ForgedVersions))
	}
	if en.HiddenFiles > 0 {
		s = append(s, fmt.Sprintf("%d files hidden", en.HiddenFiles))
	}
	if en.RewrittenFiles > 0 {
		s = append(s, fmt.Sprintf("%d files rewritten", en.RewrittenFiles))
	}
	if !en.Restorable {
		s = append(s, "NOT RESTORABLE")
	}
	if len(s) == 0 {
		return "ok"
	}
	return strings.Join(s, ", ")
}

func printVersions(w io.Writer, doc versionsDoc) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME (UTC)\tSTATE\tMANIFEST VERSIONS\tRESTORE FROM")
	for _, en := range doc.Snapshots {
		from := "(no version verifies)"
		if en.UseVersion != "" {
			from = en.UseVersion + lockedOf(en)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", en.ID, en.Time.Format("2006-01-02 15:04"), en.state(), len(en.Versions), from)
		if len(en.Versions) < 2 {
			continue
		}
		for i, v := range en.Versions {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t\t%s\n", versionMark(i, v, en), v.Uploaded.Format("2006-01-02 15:04"), versionText(v), v.VersionID)
		}
	}
	tw.Flush()
	for _, l := range doc.Summary {
		fmt.Fprintln(w, l)
	}
}

// lockedOf is ", locked until T" for en's used version under retention.
func lockedOf(en versionsEntry) string {
	for _, v := range en.Versions {
		if v.VersionID == en.UseVersion && v.RetainUntil != nil {
			return ", locked until " + v.RetainUntil.Format("2006-01-02 15:04")
		}
	}
	return ""
}

// versionMark names version i of en: newest, used, older.
func versionMark(i int, v manifestVersionJSON, en versionsEntry) string {
	switch {
	case v.VersionID == en.UseVersion:
		return "└ used"
	case i == 0:
		return "└ newest"
	}
	return "└ older"
}

// versionText describes one manifest version.
func versionText(v manifestVersionJSON) string {
	if v.Hidden {
		return "hide marker"
	}
	s := "signature " + v.Signature
	if v.Error != "" {
		s += ", does not load: " + v.Error
	}
	return fmt.Sprintf("%s, %d bytes, sha256 %.12s", s, v.Bytes, v.SHA256)
}

// versionsSummary tells the admin what the versions show, one line each.
// A hidden snapshot older than keep_within may be a prune's doing (a key
// without deleteFiles hides); a younger one is not.
func versionsSummary(ens []versionsEntry, keepWithin time.Duration, now time.Time) []string {
	var hidden, oldHidden, over, forged, broken []string
	for _, en := range ens {
		switch {
		case en.Hidden && now.Sub(en.Time) < keepWithin:
			hidden = append(hidden, en.ID)
		case en.Hidden:
			oldHidden = append(oldHidden, en.ID)
		}
		if en.Overwritten || en.RewrittenFiles > 0 {
			over = append(over, en.ID)
		}
		if en.ForgedVersions > 0 {
			forged = append(forged, en.ID)
		}
		if !en.Restorable && (!en.Hidden || now.Sub(en.Time) < keepWithin) {
			broken = append(broken, en.ID)
		}
	}
	var out []string
	if len(hidden) > 0 {
		out = append(out, fmt.Sprintf("%s hidden though younger than retention.keep_within: someone with this host's key hid %s; "+
			"%s be restored from the versions kept: mbackup restore %s (or verify %s)",
			count(len(hidden), "snapshot is", "snapshots are"), them(len(hidden)), canThey(len(hidden)), hidden[0], hidden[0]))
	}
	if len(oldHidden) > 0 {
		out = append(out, fmt.Sprintf("%s hidden and older than retention.keep_within: a prune with a key without deleteFiles hides "+
			"what it removes (B2's lifecycle rule deletes it once the lock ends)", count(len(oldHidden), "snapshot is", "snapshots are")))
	}
	if len(over) > 0 {
		out = append(out, fmt.Sprintf("%s files uploaded again (mbackup writes each once): the newer versions are suspect, "+
			"forged or signed with this host's stolen signing key; restore and verify read the oldest version that verifies: mbackup verify %s",
			count(len(over), "snapshot has", "snapshots have"), over[0]))
	}
	if len(forged) > 0 {
		out = append(out, fmt.Sprintf("%s a manifest version that fails its signature: forged, never used", count(len(forged), "snapshot has", "snapshots have")))
	}
	if len(broken) > 0 {
		out = append(out, fmt.Sprintf("%s no version that restores (no manifest version verifies with the pinned signer, "+
			"or an artifact has no version of its size): %s", count(len(broken), "snapshot has", "snapshots have"), strings.Join(broken, ", ")))
	}
	if len(out) == 0 {
		out = append(out, fmt.Sprintf("%s, each as the backup host wrote it: nothing hidden, nothing overwritten",
			count(len(ens), "snapshot", "snapshots")))
	}
	return out
}

// count is "1 snapshot is" or "3 snapshots are".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

func canThey(n int) string {
	if n == 1 {
		return "it can"
	}
	return "they can"
}
