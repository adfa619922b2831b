package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"mbackup/internal/restore"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// Restoring from stored versions. On a store that keeps versions (b2),
// restore ID and verify ID look at every version of the snapshot first:
// when its manifest is hidden, was overwritten, or its keys were hidden
// or uploaded again, they read the snapshot through a read-only view
// pinned to the versions the backup host wrote (snapshot.Found.Pick), and
// say so loudly on standard error. --version VERSION_ID picks a manifest
// version by hand; its signature is checked as any other's.

// fromVersions returns the store and manifest to read snapshot id from,
// when its stored versions say the store as listed is not the snapshot
// the backup host committed (or --version picks one); nil, nil, nil when
// the store is read as it is.
// The warning goes to warn (nil: nowhere).
func fromVersions(ctx context.Context, warn io.Writer, s storage.Store, id, version string, signer ssh.PublicKey) (storage.Store, *snapshot.Manifest, error) {
	v, ok := s.(storage.Versioned)
	switch {
	case version != "" && id == "":
		return nil, nil, usagef("--version %s needs the snapshot ID it is a version of", version)
	case version != "" && !ok:
		return nil, nil, usagef("--version: this store keeps no versions of its objects (only b2 does)")
	case !ok:
		return nil, nil, nil
	}
	if _, err := snapshot.ParseID(id); err != nil {
		return nil, nil, nil // the caller says it is no id
	}
	f, err := snapshot.FindOne(ctx, v, id, signer)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, nil // the caller says there is no such snapshot
	case err != nil:
		return nil, nil, err
	}
	i := f.Pick
	if version != "" {
		if i, err = f.Version(version); err != nil {
			return nil, nil, err
		}
	} else if f.AsStored() {
		return nil, nil, nil
	} else if i < 0 {
		if !f.Hidden {
			return nil, nil, nil // the store as it is says why it does not verify
		}
		return nil, nil, fmt.Errorf("snapshot %s is hidden and none of its %d manifest versions verifies with the pinned signer: "+
			"mbackup list --all-versions shows them", id, len(f.Manifests))
	}
	view, err := f.Pin(ctx, v, i)
	if err != nil {
		return nil, nil, err
	}
	if warn != nil {
		warnVersion(warn, f, i, version != "")
	}
	return view, f.Manifests[i].Manifest, nil
}

// warnVersion says, loudly, that snapshot f is read from its stored
// versions, why, and which.
func warnVersion(w io.Writer, f *snapshot.Found, i int, byHand bool) {
	mv := f.Manifests[i]
	fmt.Fprintf(w, "mbackup: WARNING: snapshot %s: %s\n", f.ID, strings.Join(tamperings(f), "; "))
	how := "the oldest version that verifies, the one the backup host wrote"
	if byHand {
		how = "picked with --version"
	}
	fmt.Fprintf(w, "mbackup: WARNING: reading it from manifest version %s (%s), uploaded %s, signature %s%s, "+
		"each artifact from its newest version of the manifest's size and sha256\n",
		mv.ID, how, mv.Modified.UTC().Format(time.RFC3339), mv.Signature, lockedText(mv.Version))
	fmt.Fprintln(w, "mbackup: WARNING: someone with this host's storage key may have tampered with the store: "+
		"mbackup list --all-versions shows every version")
}

// tamperings says what the versions of f show, one phrase each.
func tamperings(f *snapshot.Found) []string {
	var out []string
	if f.Hidden {
		out = append(out, "its manifest is hidden (a hide marker is its newest version)")
	}
	if f.Overwritten {
		out = append(out, fmt.Sprintf("its manifest was overwritten: %d uploaded versions differ", countUploaded(f)))
	}
	if n := f.Forged(); n > 0 {
		out = append(out, fmt.Sprintf("%d manifest versions fail the signature (forged)", n))
	}
	if f.HiddenArtifacts > 0 {
		out = append(out, fmt.Sprintf("%d of its other files are hidden", f.HiddenArtifacts))
	}
	if f.RewrittenArtifacts > 0 {
		out = append(out, fmt.Sprintf("%d of its other files were uploaded again", f.RewrittenArtifacts))
	}
	if len(f.Missing) > 0 {
		out = append(out, fmt.Sprintf("%d artifacts have no version of the manifest's size", len(f.Missing)))
	}
	if len(out) == 0 {
		out = append(out, "nothing hidden or overwritten")
	}
	return out
}

// countUploaded counts f's manifest versions that are not hide markers.
func countUploaded(f *snapshot.Found) int {
	n := 0
	for _, m := range f.Manifests {
		if !m.Hidden {
			n++
		}
	}
	return n
}

// lockedText is ", locked until T (mode)" for a version under retention.
func lockedText(v storage.Version) string {
	if v.RetainUntil.IsZero() {
		return ""
	}
	return fmt.Sprintf(", locked until %s (%s)", v.RetainUntil.UTC().Format(time.RFC3339), v.LockMode)
}

// versionsHint adds to err, a snapshot not found on a store that keeps
// versions, where hidden ones are found.
func versionsHint(s storage.Store, err error) error {
	var bad *restore.BadIDError
	if _, ok := s.(storage.Versioned); !ok || err == nil || errors.As(err, &bad) {
		return err
	}
	return fmt.Errorf("%w (a snapshot hidden or overwritten with this host's key is found by mbackup list --all-versions)", err)
}
