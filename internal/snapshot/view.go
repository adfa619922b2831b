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

	"mbackup/internal/storage"
)

// ErrReadOnly is returned by Put and Delete of a View.
var ErrReadOnly = errors.New("snapshot: a view of stored versions is read-only")

// View is a read-only storage.Store showing one snapshot as the backup
// host committed it: its manifest, its signature and each artifact pinned
// to one stored version. Get reads the pinned version (GetVersion), Stat
// and List describe the pinned versions, in ascending key order; a key
// not pinned is fs.ErrNotExist. Put and Delete are refused (ErrReadOnly):
// nothing reading a snapshot through a View writes to the store.
type View struct {
	v    storage.Versioned
	pins map[string]storage.Version
}

var _ storage.Store = (*View)(nil)

// Version returns the index in f.Manifests of the manifest version whose
// ID is id; ErrVersionNotFound when there is none, or it is a hide marker.
func (f *Found) Version(id string) (int, error) {
	i := slices.IndexFunc(f.Manifests, func(m ManifestVersion) bool { return m.ID == id })
	if i < 0 || f.Manifests[i].Hidden {
		var ids []string
		for _, m := range f.Manifests {
			if !m.Hidden {
				ids = append(ids, m.ID)
			}
		}
		return 0, fmt.Errorf("snapshot: %s: %w %q (its uploaded versions: %s)", f.ID, ErrVersionNotFound, id, strings.Join(ids, ", "))
	}
	return i, nil
}

// Pin returns a View of f with its manifest at f.Manifests[i], which must
// load: the signature version that verifies it (else the newest uploaded
// one, for Authenticate to refuse), and for each artifact the newest
// uploaded version of the manifest's stored size; where several have
// that size, the newest whose stored SHA-256 matches (each is read).
func (f *Found) Pin(ctx context.Context, v storage.Versioned, i int) (*View, error) {
	mv := f.Manifests[i]
	if mv.Manifest == nil {
		return nil, fmt.Errorf("snapshot: %s: manifest version %s does not load: %s", f.ID, mv.ID, mv.Problem)
	}
	view := &View{v: v, pins: map[string]storage.Version{ManifestKey(f.ID): mv.Version}}
	for _, ver := range f.keys[SignatureKey(f.ID)] {
		if !ver.Hidden && (mv.sigID == "" || ver.ID == mv.sigID) {
			view.pins[ver.Key] = ver
			break
		}
	}
	for _, a := range mv.Manifest.Artifacts {
		ver, ok, err := f.artifactVersion(ctx, v, a)
		if err != nil {
			return nil, err
		}
		if ok {
			view.pins[a.Key] = ver
		}
	}
	return view, nil
}

// artifactVersion picks the version of a to read; false when a has no
// uploaded version at all.
func (f *Found) artifactVersion(ctx context.Context, v storage.Versioned, a Artifact) (storage.Version, bool, error) {
	var uploaded, sized []storage.Version
	for _, ver := range f.keys[a.Key] {
		if !ver.Hidden {
			uploaded = append(uploaded, ver)
			if ver.Size == a.StoredBytes {
				sized = append(sized, ver)
			}
		}
	}
	switch {
	case len(sized) == 1:
		return sized[0], true, nil
	case len(sized) == 0 && len(uploaded) == 0:
		return storage.Version{}, false, nil
	case len(sized) == 0:
		return uploaded[0], true, nil // the wrong size: verify says so
	}
	for _, ver := range sized {
		sum, err := versionSHA256(ctx, v, ver)
		if err != nil {
			return storage.Version{}, false, err
		}
		if sum == a.StoredSHA256 {
			return ver, true, nil
		}
	}
	return sized[0], true, nil
}

// versionSHA256 reads one version and returns the SHA-256 of its bytes.
func versionSHA256(ctx context.Context, v storage.Versioned, ver storage.Version) (string, error) {
	rc, err := v.GetVersion(ctx, ver.Key, ver.ID)
	if err != nil {
		return "", fmt.Errorf("snapshot: read %s version %s: %w", ver.Key, ver.ID, err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", fmt.Errorf("snapshot: read %s version %s: %w", ver.Key, ver.ID, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Pinned returns the version of key the view reads; false when none.
func (w *View) Pinned(key string) (storage.Version, bool) {
	ver, ok := w.pins[key]
	return ver, ok
}

// Get opens the pinned version of key.
func (w *View) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	ver, ok := w.pins[key]
	if !ok {
		return nil, fmt.Errorf("snapshot: view: get %s: %w", key, fs.ErrNotExist)
	}
	return w.v.GetVersion(ctx, key, ver.ID)
}

// Stat describes the pinned version of key.
func (w *View) Stat(_ context.Context, key string) (storage.Object, error) {
	ver, ok := w.pins[key]
	if !ok {
		return storage.Object{}, fmt.Errorf("snapshot: view: stat %s: %w", key, fs.ErrNotExist)
	}
	return ver.Object, nil
}

// List calls fn for every pinned key starting with prefix, in ascending
// order.
func (w *View) List(_ context.Context, prefix string, fn func(storage.Object) error) error {
	var keys []string
	for k := range w.pins {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := fn(w.pins[k].Object); err != nil {
			return err
		}
	}
	return nil
}

// Put is refused: a view is read-only.
func (w *View) Put(context.Context, string, io.Reader) (storage.Object, error) {
	return storage.Object{}, ErrReadOnly
}

// Delete is refused: a view is read-only.
func (w *View) Delete(context.Context, string) error { return ErrReadOnly }
