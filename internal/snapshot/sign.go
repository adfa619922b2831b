package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/crypto/ssh"

	"mbackup/internal/sshsig"
	"mbackup/internal/storage"
)

// Signing. A manifest is signed by the backup host's key (an SSH
// signature in the namespace "mbackup", see package sshsig) over its exact
// bytes; the signature is stored at SignatureKey, written just before the
// manifest, so a committed snapshot always has it. age authenticates
// nothing and the recipients are public: without a signature anyone who
// can write to the store could forge a snapshot that decrypts and whose
// hashes match. A restore trusts a manifest by its signature, not by its
// place in the store.

// ErrUnsigned is wrapped when a snapshot has no signature.
var ErrUnsigned = errors.New("snapshot: not signed")

// Signer signs manifests (an *sshsig.Signer).
type Signer interface {
	Sign(msg []byte) []byte
	PublicKey() ssh.PublicKey
}

// SignatureKey is the key of the signature of snapshot id's manifest.
func SignatureKey(id string) string { return Root + id + "/manifest.json.sig" }

// Authenticate reads snapshot id's manifest and signature, checks that the
// signature was made by trusted over exactly the manifest's bytes, and
// returns the manifest parsed from those very bytes: use it, not one read
// before, so nothing swapped in between is trusted. An unsigned snapshot
// is refused with ErrUnsigned, a wrong signature with
// sshsig.ErrBadSignature.
func Authenticate(ctx context.Context, s storage.Store, id string, trusted ssh.PublicKey) (*Manifest, error) {
	if _, err := ParseID(id); err != nil {
		return nil, err
	}
	data, err := readAll(ctx, s, ManifestKey(id), maxManifest)
	if err != nil {
		return nil, fmt.Errorf("snapshot: load %s: %w", id, err)
	}
	sig, err := readAll(ctx, s, SignatureKey(id), 64<<10)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no manifest.json.sig (taken without encryption.signing_key_file, "+
			"or the signature was removed): restore it only if you know where it came from, with --insecure-skip-signature", ErrUnsigned, id)
	} else if err != nil {
		return nil, fmt.Errorf("snapshot: load %s: signature: %w", id, err)
	}
	if err := sshsig.Verify(trusted, data, sig); err != nil {
		return nil, fmt.Errorf("snapshot: %s: %w: the manifest is not the one the backup host signed", id, err)
	}
	return decodeManifest(id, data)
}
