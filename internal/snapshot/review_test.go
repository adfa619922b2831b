package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"mbackup/internal/sshsig"
)

// TestReviewIsSigned: what Review adds to the manifest is committed and
// covered by the signature: removing it breaks the signature.
func TestReviewIsSigned(t *testing.T) {
	ctx := context.Background()
	tk, _ := newTaker(t)
	tk.Signer = newSigner(t)
	var seen int
	tk.Review = func(m *Manifest) {
		seen = len(m.Artifacts)
		m.Shrunk = []Shrink{{Component: "postgres", Name: "db", BeforeBytes: 100 << 20, AfterBytes: 5, Previous: "20261122T120000Z-aaaaaa"}}
		m.Notes = append(m.Notes, "reviewed")
	}
	m, err := tk.Take(ctx, []Job{{Component: "postgres", Name: "db", Ext: ".dump", Produce: shell("echo small")}})
	if err != nil {
		t.Fatal(err)
	}
	if seen != 1 {
		t.Errorf("Review saw %d artifacts, want 1", seen)
	}
	got, err := Authenticate(ctx, tk.Store, m.ID, tk.Signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Shrunk) != 1 || got.Shrunk[0].AfterBytes != 5 || got.Shrunk[0].Previous != "20261122T120000Z-aaaaaa" || len(got.Notes) != 1 {
		t.Fatalf("committed manifest: shrunk %+v notes %q", got.Shrunk, got.Notes)
	}
	// Dropping the flag from the stored manifest breaks the signature.
	orig := readKey(t, tk, ManifestKey(m.ID))
	var raw map[string]any
	if err := json.Unmarshal(orig, &raw); err != nil {
		t.Fatal(err)
	}
	delete(raw, "shrunk")
	forged, _ := json.MarshalIndent(raw, "", "  ")
	put(t, tk, ManifestKey(m.ID), append(forged, '\n'))
	if _, err := Authenticate(ctx, tk.Store, m.ID, tk.Signer.PublicKey()); !errors.Is(err, sshsig.ErrBadSignature) {
		t.Errorf("a manifest without its shrink flag: err = %v", err)
	}
}

// TestUnknownFieldsLoad: a manifest of format 1 with fields this version
// does not know (a newer mbackup's additions) still loads, as the shrink
// fields load in an mbackup that predates them.
func TestUnknownFieldsLoad(t *testing.T) {
	ctx := context.Background()
	tk, _ := newTaker(t)
	m, err := tk.Take(ctx, []Job{{Component: "redis", Name: "main", Ext: ".rdb", Produce: shell("echo x")}})
	if err != nil {
		t.Fatal(err)
	}
	orig := readKey(t, tk, ManifestKey(m.ID))
	b := bytes.Replace(orig, []byte(`"format": 1,`), []byte(`"format": 1, "some_later_field": {"x": [1, 2]},`), 1)
	if bytes.Equal(b, orig) {
		t.Fatal("the manifest has no \"format\": 1, line to add a field after")
	}
	put(t, tk, ManifestKey(m.ID), b)
	if _, err := Load(ctx, tk.Store, m.ID); err != nil {
		t.Fatalf("a manifest with an unknown field: %v", err)
	}
}
