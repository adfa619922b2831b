package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"golang.org/x/crypto/ssh"

	"mbackup/internal/config"
	"mbackup/internal/snapshot"
	"mbackup/internal/sshsig"
	"mbackup/internal/storage"
)

// trustFlags say which signer restore and verify trust.
type trustFlags struct {
	signer   string
	skipSigs bool
}

func (f *trustFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.signer, "signer", "", "trust snapshots signed by this key: the ssh-ed25519 line, or a `FILE` holding it "+
		"(default: encryption.signer, else the public half of encryption.signing_key_file)")
	fs.BoolVar(&f.skipSigs, "insecure-skip-signature", false, "do not check manifest signatures: anyone who could write "+
		"to the store may have forged the snapshot")
}

// pinned returns the trusted signer; nil with --insecure-skip-signature.
func (f trustFlags) pinned(cfg *config.Config) (ssh.PublicKey, error) {
	if f.skipSigs {
		return nil, nil
	}
	if f.signer != "" {
		pub, err := sshsig.PublicKeyArg(f.signer)
		if err != nil {
			return nil, usagef("--signer: %v", err)
		}
		return pub, nil
	}
	pub, err := cfg.Encryption.TrustedSigner()
	if errors.Is(err, config.ErrNoSigner) {
		return nil, &configError{fmt.Errorf("%w (or --insecure-skip-signature to restore what is unsigned)", err)}
	}
	return pub, err
}

// authenticate returns snapshot m as read from its signed bytes: the
// manifest to use from here on. With a nil signer
// (--insecure-skip-signature) it returns m and says that nothing was
// checked.
func authenticate(ctx context.Context, e *env, s storage.Store, m *snapshot.Manifest, signer ssh.PublicKey) (*snapshot.Manifest, error) {
	if signer == nil {
		fmt.Fprintf(e.stderr, "mbackup: warning: %s: signature not checked (--insecure-skip-signature)\n", m.ID)
		return m, nil
	}
	return snapshot.Authenticate(ctx, s, m.ID, signer)
}

// signingKey reads the configured signing key; nil when none is set,
// which the log says: restores will refuse such a snapshot by default.
func signingKey(e *env, cfg *config.Config) (snapshot.Signer, error) {
	k, err := cfg.Encryption.SigningKey()
	if err != nil {
		return nil, &configError{err}
	}
	if k == nil {
		e.logger().Warn("encryption.signing_key_file is not set: this snapshot is not signed, and restore and verify " +
			"refuse it unless told --insecure-skip-signature; make a key with mbackup keygen --signing -o /etc/mbackup/signing.key")
		return nil, nil
	}
	return k, nil
}
