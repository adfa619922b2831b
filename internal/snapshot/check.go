package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
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
	return ReadBack{Identities: identities, Plain: len(identities) > 0}.Check(ctx, s, m)
}

// Scanner returns what the plaintext of an artifact is fed to, nil for
// none; its Close says whether the plaintext passed (restore's
// meta-command scanners).
type Scanner func(Artifact) io.WriteCloser

// ReadBack says how an artifact is read back and compared with its
// manifest. The stored bytes are always read in full, streamed, and their
// size and SHA-256 compared.
type ReadBack struct {
	// Identities open each artifact: its age header at least. Without
	// them only the stored bytes are checked.
	Identities []age.Identity
	// Plain decrypts every artifact in full and compares the plaintext's
	// size and SHA-256 too.
	Plain bool
	// Scan, when set, is fed the plaintext of every artifact it returns a
	// writer for (decrypted in full whatever Plain says, and its
	// plaintext compared): its Close refuses the artifact.
	Scan Scanner
}

// Check reads back every artifact of m and returns one error per bad one,
// joined, each naming the artifact's key.
func (rb ReadBack) Check(ctx context.Context, s storage.Store, m *Manifest) error {
	var errs []error
	for _, a := range m.Artifacts {
		if err := rb.Artifact(ctx, s, a); err != nil {
			errs = append(errs, fmt.Errorf("snapshot: check %s: %w", a.Key, err))
		}
	}
	return errors.Join(errs...)
}

// Artifact reads back one artifact. Errors of age (a wrong identity) and
// of the scanner are returned unwrapped, for the caller to explain.
func (rb ReadBack) Artifact(ctx context.Context, s storage.Store, a Artifact) error {
	rc, err := s.Get(ctx, a.Key)
	if err != nil {
		return err
	}
	defer rc.Close()
	stored := &hashCounter{h: sha256.New()}
	src := io.TeeReader(rc, stored)
	if len(rb.Identities) > 0 {
		r, err := stream.Unseal(src, rb.Identities...)
		if err != nil {
			return err
		}
		defer r.Close()
		var w io.WriteCloser
		if rb.Scan != nil {
			w = rb.Scan(a)
		}
		if w != nil || rb.Plain {
			if err := readPlain(r, w); err != nil {
				return err
			}
			return CompareSums(r.Sums(), a.Sums)
		}
	}
	if _, err := io.Copy(io.Discard, src); err != nil {
		return err
	}
	got := stream.Sums{StoredBytes: stored.n, StoredSHA256: hex.EncodeToString(stored.h.Sum(nil))}
	return CompareSums(got, stream.Sums{StoredBytes: a.StoredBytes, StoredSHA256: a.StoredSHA256})
}

// readPlain reads r to its end into w (nil: discarded), then closes w.
func readPlain(r io.Reader, w io.WriteCloser) error {
	if w == nil {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		return err
	}
	return w.Close()
}

// CompareSums compares what was read with the manifest's sums, stored side
// first.
func CompareSums(got, want stream.Sums) error {
	switch {
	case got.StoredBytes != want.StoredBytes:
		return fmt.Errorf("stored size %d, the manifest says %d", got.StoredBytes, want.StoredBytes)
	case got.StoredSHA256 != want.StoredSHA256:
		return errors.New("stored sha256 differs from the manifest's: the artifact was altered in the store")
	case got.PlainBytes != want.PlainBytes:
		return fmt.Errorf("plaintext size %d, the manifest says %d", got.PlainBytes, want.PlainBytes)
	case got.PlainSHA256 != want.PlainSHA256:
		return errors.New("plaintext sha256 differs from the manifest's")
	}
	return nil
}

// hashCounter hashes and counts what is written to it.
type hashCounter struct {
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}
