package restore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strconv"
	"time"

	"filippo.io/age"

	"mbackup/internal/artifact"
	"mbackup/internal/engine"
	"mbackup/internal/engines"
	"mbackup/internal/redact"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// BadIDError is an argument that is not a snapshot id.
type BadIDError struct{ err error }

func (e *BadIDError) Error() string { return e.err.Error() }
func (e *BadIDError) Unwrap() error { return e.err }

// Find loads snapshot id, or the newest good one (complete, not dated in
// the future: snapshot.NewestGood) when id is "". An id that is not one is
// a *BadIDError.
func Find(ctx context.Context, s storage.Store, id string) (*snapshot.Manifest, error) {
	if id != "" {
		if _, err := snapshot.ParseID(id); err != nil {
			return nil, &BadIDError{err}
		}
		m, err := snapshot.Load(ctx, s, id)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no snapshot %s in the store (mbackup list shows the snapshots there)", id)
		}
		return m, err
	}
	entries, err := snapshot.List(ctx, s)
	if err != nil {
		return nil, err
	}
	if g, ok := snapshot.NewestGood(entries, time.Now()); ok {
		return g.Manifest, nil
	}
	return nil, errors.New("the store holds no complete snapshot that is not dated in the future (mbackup list shows what it holds; give another one by its id)")
}

// ToVerify returns the snapshots to verify: id's, every one with a
// manifest with all, or the newest good one (snapshot.NewestGood). An
// unreadable or newer-format snapshot is returned, to fail, when it is
// named or with all; never as the newest. With all, incomplete lists the
// interrupted runs left out, even when err is not nil.
func ToVerify(ctx context.Context, s storage.Store, id string, all bool) (entries []snapshot.Entry, incomplete []string, err error) {
	if id != "" {
		m, err := Find(ctx, s, id)
		switch {
		case errors.Is(err, snapshot.ErrNewerFormat):
			return []snapshot.Entry{{ID: id, Status: snapshot.StatusNewerFormat, Reason: err.Error()}}, nil, nil
		case errors.Is(err, snapshot.ErrUnreadable):
			return []snapshot.Entry{{ID: id, Status: snapshot.StatusUnreadable, Reason: err.Error()}}, nil, nil
		case err != nil:
			return nil, nil, err
		}
		en := snapshot.Entry{ID: id, Status: m.Status, Manifest: m}
		en.Future = en.FutureAt(time.Now())
		return []snapshot.Entry{en}, nil, nil
	}
	listed, err := snapshot.List(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	if !all {
		if g, ok := snapshot.NewestGood(listed, time.Now()); ok {
			return []snapshot.Entry{g}, nil, nil
		}
		return nil, nil, errors.New("verify: the store holds no complete snapshot that is not dated in the future (mbackup list shows what it holds; give another one by its id)")
	}
	for _, en := range listed {
		if en.Status == snapshot.StatusIncomplete {
			incomplete = append(incomplete, en.ID)
			continue
		}
		entries = append(entries, en)
	}
	if len(entries) == 0 {
		return nil, incomplete, errors.New("verify: the store holds no snapshot")
	}
	return entries, incomplete, nil
}

// ReadIdentities parses an age identity file.
func ReadIdentities(path string) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("identity file %s: not an age identity file: %v", path, err)
	}
	return ids, nil
}

// Group is what a snapshot holds of one component.
type Group struct {
	Component string
	Names     []string
	Bytes     int64 // plaintext
}

// Groups returns what m holds, one Group per component that has
// artifacts, in the order the engines take them.
func Groups(m *snapshot.Manifest) []Group {
	var out []Group
	for _, c := range engines.Names() {
		g := Group{Component: c}
		for _, a := range m.Artifacts {
			if a.Component == c {
				g.Names, g.Bytes = append(g.Names, a.Name), g.Bytes+a.PlainBytes
			}
		}
		if len(g.Names) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// Wants reports whether the selection only (all when empty) holds some
// artifact of m of component c.
func Wants(m *snapshot.Manifest, only []string, c artifact.Component) bool {
	for _, a := range m.Artifacts {
		if a.Component != string(c) {
			continue
		}
		if len(only) == 0 {
			return true
		}
		for _, sel := range only {
			if selects(sel, a) {
				return true
			}
		}
	}
	return false
}

// ScratchTargets parses the --restore-into URLs of a drill: each names the
// scratch server of the engine whose scheme it has (see
// engine.Drillable); a later URL of the same engine replaces an earlier
// one. The errors never hold a URL's password.
func ScratchTargets(urls []string) ([]engine.Scratch, error) {
	var out []engine.Scratch
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("verify: --restore-into: %q is not a URL such as postgres://postgres@127.0.0.1:5432/ or mysql://root@127.0.0.1:3306", redactURL(raw))
		}
		port := 0
		if p := u.Port(); p != "" {
			if port, err = strconv.Atoi(p); err != nil {
				return nil, fmt.Errorf("verify: --restore-into %s: bad port %q", redactURL(raw), p)
			}
		}
		s := scratchTarget(u, port)
		if s == nil {
			return nil, fmt.Errorf("verify: --restore-into %s: scheme %q is not postgres or mysql", redactURL(raw), u.Scheme)
		}
		out = slices.DeleteFunc(out, func(x engine.Scratch) bool { return x.Component() == s.Component() })
		out = append(out, s)
	}
	return out, nil
}

// scratchTarget is the target of the engine that takes u's scheme.
func scratchTarget(u *url.URL, port int) engine.Scratch {
	for _, e := range engines.All {
		if d, ok := e.(engine.Drillable); ok {
			if s, ok := d.ScratchTarget(u, port); ok {
				return s
			}
		}
	}
	return nil
}

// redactURL hides a URL's password.
func redactURL(raw string) string {
	if _, err := url.Parse(raw); err != nil {
		return "[unparsable URL]"
	}
	return redact.String(raw, redact.Mark)
}
