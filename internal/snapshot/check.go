package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"

	"mbackup/internal/storage"
	"mbackup/internal/stream"
)

// Check reads every artifact of m back from s and compares its stored size
// and SHA-256 with the manifest, which needs no key. Given identities, it
// also decrypts each artifact and compares the plaintext's size and SHA-256.
// It checks every artifact and returns one error per bad one, joined, each
// naming the artifact's key.
func Check(ctx context.Context, s storage.Store, m *Manifest, identities ...age.Identity) error {
	return CheckScanned(ctx, s, m, nil, identities...)
}

// Scanner returns what the plaintext of an artifact is fed to when it is
// decrypted, nil for none; its Close says whether the plaintext passed
// (restore's meta-command scanners).
type Scanner func(Artifact) io.WriteCloser

// CheckScanned is Check that, given identities, also feeds each
// artifact's plaintext to scan(a) and fails the artifact when it refuses.
func CheckScanned(ctx context.Context, s storage.Store, m *Manifest, scan Scanner, identities ...age.Identity) error {
	var errs []error
	for _, a := range m.Artifacts {
		if err := checkArtifact(ctx, s, a, scan, identities); err != nil {
			errs = append(errs, fmt.Errorf("snapshot: check %s: %w", a.Key, err))
		}
	}
	return errors.Join(errs...)
}

func checkArtifact(ctx context.Context, s storage.Store, a Artifact, scan Scanner, ids []age.Identity) error {
	rc, err := s.Get(ctx, a.Key)
	if err != nil {
		return err
	}
	defer rc.Close()
	var got stream.Sums
	if len(ids) == 0 {
		h := sha256.New()
		n, err := io.Copy(h, rc)
		if err != nil {
			return err
		}
		got.StoredBytes, got.StoredSHA256 = n, hex.EncodeToString(h.Sum(nil))
	} else {
		r, err := stream.Unseal(rc, ids...)
		if err != nil {
			return err
		}
		defer r.Close()
		var w io.WriteCloser
		if scan != nil {
			w = scan(a)
		}
		if w == nil {
			_, err = io.Copy(io.Discard, r)
		} else if _, err = io.Copy(w, r); err == nil {
			err = w.Close()
		}
		if err != nil {
			return err
		}
		got = r.Sums()
	}
	switch {
	case got.StoredBytes != a.StoredBytes:
		return fmt.Errorf("stored size %d, the manifest says %d", got.StoredBytes, a.StoredBytes)
	case got.StoredSHA256 != a.StoredSHA256:
		return errors.New("stored sha256 differs from the manifest's")
	case len(ids) > 0 && got.PlainBytes != a.PlainBytes:
		return fmt.Errorf("plaintext size %d, the manifest says %d", got.PlainBytes, a.PlainBytes)
	case len(ids) > 0 && got.PlainSHA256 != a.PlainSHA256:
		return errors.New("plaintext sha256 differs from the manifest's")
	}
	return nil
}
