package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"mbackup/internal/storage/local"
)

const fuzzID = "20261122T120000Z-1a2b3c"

var fuzzManifests = []string{
	`{"format":1,"id":"20261122T120000Z-1a2b3c","tool":"mbackup v1.0.0","host":"mastodon-prod","status":"complete",` +
		`"started":"2026-11-22T12:00:00Z","finished":"2026-11-22T12:03:10.5Z","recipients":["0123456789abcdef"],` +
		`"artifacts":[{"key":"snapshots/20261122T120000Z-1a2b3c/postgres/mastodon_production.dump.zst.age",` +
		`"component":"postgres","name":"mastodon_production","command":"pg_dump -Fc",` +
		`"plain_bytes":1048576,"plain_sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",` +
		`"stored_bytes":524288,"stored_sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",` +
		`"started":"2026-11-22T12:00:01Z","finished":"2026-11-22T12:02:00Z"}]}`,
	`{"format":1,"id":"20261122T120000Z-1a2b3c","status":"partial","started":"2026-11-22T12:00:00+01:00",` +
		`"artifacts":[],"failed":[{"component":"redis","name":"main","reason":"redis-cli: exit status 1"}]}`,
	`{"format":2,"id":"20261122T120000Z-1a2b3c","status":"complete"}`,
	`{"format":0,"id":"20261122T120000Z-1a2b3c","status":"complete"}`,
	`{"format":1,"id":"20261122T120000Z-ffffff","status":"complete"}`,
	`{"format":1,"id":"20261122T120000Z-1a2b3c","status":"incomplete"}`,
	`{"format":1,"id":"20261122T120000Z-1a2b3c","status":"complete"} trailing`,
	`{"format":-9223372036854775808,"id":"","status":""}`,
	`{"format":1e3}`,
	`[]`,
	`null`,
	``,
}

// FuzzManifest writes arbitrary bytes as the manifest of snapshot id into a
// local store and loads it. Load must never panic; a manifest it accepts has
// a format it reads, the requested id and the status complete or partial,
// and written back as JSON it loads again unchanged.
func FuzzManifest(f *testing.F) {
	for _, m := range fuzzManifests {
		f.Add(fuzzID, []byte(m))
	}
	f.Add("20261122T120000Z-1A2B3C", []byte(fuzzManifests[0]))
	f.Add("../20261122T120000Z-1a2b3c", []byte(fuzzManifests[0]))
	dir := f.TempDir()
	s, err := local.New(dir)
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	put := func(t *testing.T, id string, data []byte) {
		p := filepath.Join(dir, filepath.FromSlash(ManifestKey(id)))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, id string, data []byte) {
		if _, err := ParseID(id); err != nil {
			if m, err := Load(ctx, s, id); err == nil {
				t.Fatalf("Load(%q), not a snapshot id, returned %+v", id, m)
			}
			return
		}
		put(t, id, data)
		m, err := Load(ctx, s, id)
		if err != nil {
			if m != nil {
				t.Fatalf("Load returned a manifest and the error %v", err)
			}
			return
		}
		if m.Format < 1 || m.Format > FormatVersion {
			t.Fatalf("accepted format %d", m.Format)
		}
		if m.ID != id {
			t.Fatalf("accepted manifest of %q for %q", m.ID, id)
		}
		if m.Status != StatusComplete && m.Status != StatusPartial {
			t.Fatalf("accepted status %q", m.Status)
		}
		_ = m.Bytes()
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("accepted manifest does not marshal: %v", err)
		}
		put(t, id, out)
		m2, err := Load(ctx, s, id)
		if err != nil {
			t.Fatalf("accepted manifest written back does not load: %v\n%s", err, out)
		}
		// Compared as JSON: an empty list and an absent one ("failed": [])
		// are the same manifest.
		if out2, _ := json.Marshal(m2); !bytes.Equal(out, out2) {
			t.Fatalf("manifest changed on a round trip:\n%s\n%s", out, out2)
		}
	})
}
