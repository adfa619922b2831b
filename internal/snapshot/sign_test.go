package snapshot

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"mbackup/internal/sshsig"
)

func newSigner(t *testing.T) *sshsig.Signer {
	t.Helper()
	priv, _, err := sshsig.GenerateKey("test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sshsig.ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAuthenticate takes a signed snapshot, then forges it the ways
// someone who can write to the store (but does not hold the backup host's
// key) can: each is refused.
func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	tk, _ := newTaker(t)
	tk.Signer = newSigner(t)
	jobs := []Job{{Component: "postgres", Name: "db", Ext: ".dump", Produce: shell("echo real")}}
	m, err := tk.Take(ctx, jobs)
	if err != nil {
		t.Fatal(err)
	}
	if m.Signer != sshsig.Fingerprint(tk.Signer.PublicKey()) || !strings.HasPrefix(m.Signer, "SHA256:") {
		t.Errorf("manifest signer %q", m.Signer)
	}
	got, err := Authenticate(ctx, tk.Store, m.ID, tk.Signer.PublicKey())
	if err != nil || got.Artifacts[0].PlainSHA256 != m.Artifacts[0].PlainSHA256 {
		t.Fatalf("Authenticate a signed snapshot: %v", err)
	}
	other := newSigner(t)
	if _, err := Authenticate(ctx, tk.Store, m.ID, other.PublicKey()); !errors.Is(err, sshsig.ErrBadSignature) {
		t.Errorf("another pinned key: err = %v", err)
	}

	// A forged manifest: one hash changed, the signature left as it was.
	orig := readKey(t, tk, ManifestKey(m.ID))
	forged := bytes.Replace(orig, []byte(m.Artifacts[0].StoredSHA256), []byte(strings.Repeat("0", 64)), 1)
	put(t, tk, ManifestKey(m.ID), forged)
	if _, err := Authenticate(ctx, tk.Store, m.ID, tk.Signer.PublicKey()); !errors.Is(err, sshsig.ErrBadSignature) ||
		!strings.Contains(err.Error(), "not the one the backup host signed") {
		t.Errorf("a changed manifest: err = %v", err)
	}
	// Re-signed by the forger's own key.
	put(t, tk, SignatureKey(m.ID), other.Sign(forged))
	if _, err := Authenticate(ctx, tk.Store, m.ID, tk.Signer.PublicKey()); !errors.Is(err, sshsig.ErrBadSignature) ||
		!strings.Contains(err.Error(), "not by the pinned signer") {
		t.Errorf("a manifest signed by another key: err = %v", err)
	}
	// Without a signature.
	tk.Store.Delete(ctx, SignatureKey(m.ID))
	if _, err := Authenticate(ctx, tk.Store, m.ID, tk.Signer.PublicKey()); !errors.Is(err, ErrUnsigned) {
		t.Errorf("an unsigned manifest: err = %v", err)
	}
	// The signature of another snapshot of the same host.
	m2, err := tk.Take(ctx, jobs)
	if err != nil {
		t.Fatal(err)
	}
	put(t, tk, ManifestKey(m.ID), orig)
	put(t, tk, SignatureKey(m.ID), readKey(t, tk, SignatureKey(m2.ID)))
	if _, err := Authenticate(ctx, tk.Store, m.ID, tk.Signer.PublicKey()); !errors.Is(err, sshsig.ErrBadSignature) {
		t.Errorf("another snapshot's signature: err = %v", err)
	}
}

// TestUnsignedTake: without a Signer the snapshot commits, unsigned.
func TestUnsignedTake(t *testing.T) {
	ctx := context.Background()
	tk, _ := newTaker(t)
	m, err := tk.Take(ctx, []Job{{Component: "redis", Name: "main", Ext: ".rdb", Produce: shell("echo x")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Store.Stat(ctx, SignatureKey(m.ID)); err == nil || m.Signer != "" {
		t.Errorf("an unsigned take wrote a signature")
	}
	if _, err := Authenticate(ctx, tk.Store, m.ID, newSigner(t).PublicKey()); !errors.Is(err, ErrUnsigned) {
		t.Errorf("err = %v", err)
	}
}

func readKey(t *testing.T, tk *Taker, key string) []byte {
	t.Helper()
	b, err := readAll(context.Background(), tk.Store, key, maxManifest)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t *testing.T, tk *Taker, key string, b []byte) {
	t.Helper()
	if _, err := tk.Store.Put(context.Background(), key, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}
