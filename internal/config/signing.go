package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/crypto/ssh"

	"mbackup/internal/sshsig"
)

// ErrNoSigner is returned by TrustedSigner when the configuration pins no
// signer and names no signing key.
var ErrNoSigner = errors.New("config: no signer pinned: set encryption.signer to the ssh-ed25519 line " +
	"mbackup init (or keygen --signing) printed, or give --signer")

// SigningKey reads and parses SigningKeyFile; nil, nil when none is
// configured. A key whose public half is not the pinned Signer is an
// error: the backups it signs would not restore.
func (e *Encryption) SigningKey() (*sshsig.Signer, error) {
	if e.SigningKeyFile == "" {
		return nil, nil
	}
	data, err := os.ReadFile(e.SigningKeyFile)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("config: encryption.signing_key_file: read %s: %w", e.SigningKeyFile, err)
	}
	s, err := sshsig.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("config: encryption.signing_key_file: %s: %w", e.SigningKeyFile, err)
	}
	if e.Signer != "" {
		pinned, err := sshsig.ParsePublicKey(e.Signer)
		if err != nil {
			return nil, fmt.Errorf("config: encryption.signer: %w", err)
		}
		if sshsig.Fingerprint(pinned) != sshsig.Fingerprint(s.PublicKey()) {
			return nil, fmt.Errorf("config: encryption.signing_key_file %s is the key %s, but encryption.signer pins %s: "+
				"restores would refuse what it signs", e.SigningKeyFile, sshsig.Fingerprint(s.PublicKey()), sshsig.Fingerprint(pinned))
		}
	}
	return s, nil
}

// TrustedSigner is the public key restore and verify trust: Signer when
// set, else the public half of SigningKeyFile (verify on the backup host
// itself); ErrNoSigner when there is neither.
func (e *Encryption) TrustedSigner() (ssh.PublicKey, error) {
	if e.Signer != "" {
		return sshsig.ParsePublicKey(e.Signer)
	}
	if e.SigningKeyFile == "" {
		return nil, ErrNoSigner
	}
	s, err := e.SigningKey()
	if err != nil {
		return nil, err
	}
	return s.PublicKey(), nil
}
