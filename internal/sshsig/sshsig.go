// Package sshsig signs and verifies messages in OpenSSH's signature format
// (PROTOCOL.sshsig, "ssh-keygen -Y sign"), so that what mbackup signs is
// checked by the stock tool with no mbackup at hand:
//
//	ssh-keygen -Y verify -f allowed_signers -I mbackup -n mbackup -s manifest.json.sig < manifest.json
//
// Invariants:
//   - Signing keys are Ed25519, stored in OpenSSH's private key format
//     (unencrypted, the file is 0600 on the backup host): ssh-keygen reads
//     them and prints their public half with "ssh-keygen -y -f FILE".
//   - Every signature is over the SHA-512 of the message in the namespace
//     Namespace; Verify accepts a signature only when it is made by exactly
//     the pinned public key, in that namespace, over exactly the message.
package sshsig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Namespace is the signature namespace of mbackup's manifests (ssh-keygen's -n).
const Namespace = "mbackup"

const (
	magic      = "SSHSIG"
	version    = 1
	armorBegin = "-----BEGIN SSH SIGNATURE-----"
	armorEnd   = "-----END SSH SIGNATURE-----"
)

// ErrBadSignature is wrapped by every error of Verify about the signature
// itself (as opposed to a malformed key).
var ErrBadSignature = errors.New("sshsig: signature does not verify")

// Signer signs with an Ed25519 key.
type Signer struct {
	key ed25519.PrivateKey
	pub ssh.PublicKey
}

// GenerateKey makes a new Ed25519 signing key and returns it in OpenSSH's
// private key format and its public half as an authorized_keys line
// ("ssh-ed25519 AAAA... comment").
func GenerateKey(comment string) (private []byte, public string, err error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("sshsig: generate key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		return nil, "", fmt.Errorf("sshsig: generate key: %w", err)
	}
	s, err := newSigner(key)
	if err != nil {
		return nil, "", err
	}
	return pem.EncodeToMemory(block), s.AuthorizedKey(comment), nil
}

// ParsePrivateKey reads an unencrypted Ed25519 key in OpenSSH's format.
func ParsePrivateKey(data []byte) (*Signer, error) {
	raw, err := ssh.ParseRawPrivateKey(data)
	if err != nil {
		var pp *ssh.PassphraseMissingError
		if errors.As(err, &pp) {
			return nil, errors.New("sshsig: the signing key is protected by a passphrase; mbackup signs unattended and needs one without")
		}
		return nil, fmt.Errorf("sshsig: not an OpenSSH private key: %w", err)
	}
	switch k := raw.(type) {
	case *ed25519.PrivateKey:
		return newSigner(*k)
	case ed25519.PrivateKey:
		return newSigner(k)
	}
	return nil, fmt.Errorf("sshsig: the signing key is a %T, not Ed25519 (make one with mbackup keygen --signing)", raw)
}

func newSigner(key ed25519.PrivateKey) (*Signer, error) {
	pub, err := ssh.NewPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("sshsig: %w", err)
	}
	return &Signer{key: key, pub: pub}, nil
}

// PublicKey is the public half of the signing key.
func (s *Signer) PublicKey() ssh.PublicKey { return s.pub }

// AuthorizedKey is the public key as one line, "ssh-ed25519 AAAA... comment".
func (s *Signer) AuthorizedKey(comment string) string {
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.pub)))
	if comment != "" {
		line += " " + comment
	}
	return line
}

// Sign returns the armored signature of msg, as "ssh-keygen -Y sign -n
// mbackup" writes it.
func (s *Signer) Sign(msg []byte) []byte {
	hash := sha512.Sum512(msg)
	sig := ssh.Signature{Format: ssh.KeyAlgoED25519, Blob: ed25519.Sign(s.key, signedData(Namespace, "sha512", hash[:]))}
	blob := append([]byte(magic), ssh.Marshal(sigBlob{version, s.pub.Marshal(), Namespace, "", "sha512", ssh.Marshal(sig)})...)
	return armor(blob)
}

// sigBlob is an SSH signature after its magic preamble.
type sigBlob struct {
	Version   uint32
	PublicKey []byte
	Namespace string
	Reserved  string
	HashAlg   string
	Signature []byte
}

// signedData is what the key signs: the magic, then the namespace, the
// reserved field, the hash algorithm and the message's hash, each as an
// SSH string.
func signedData(namespace, hashAlg string, hash []byte) []byte {
	return append([]byte(magic), ssh.Marshal(struct {
		Namespace string
		Reserved  string
		HashAlg   string
		Hash      []byte
	}{namespace, "", hashAlg, hash})...)
}

func armor(blob []byte) []byte {
	var b bytes.Buffer
	b.WriteString(armorBegin + "\n")
	enc := base64.StdEncoding.EncodeToString(blob)
	for len(enc) > 70 {
		b.WriteString(enc[:70] + "\n")
		enc = enc[70:]
	}
	b.WriteString(enc + "\n" + armorEnd + "\n")
	return b.Bytes()
}

// ParsePublicKey reads a public key given as an authorized_keys line
// ("ssh-ed25519 AAAA... comment"), or as an allowed_signers line whose
// first field names the principal.
func ParsePublicKey(line string) (ssh.PublicKey, error) {
	line = strings.TrimSpace(line)
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		if _, rest, ok := strings.Cut(line, " "); ok {
			if pub, _, _, _, err2 := ssh.ParseAuthorizedKey([]byte(rest)); err2 == nil {
				return pub, nil
			}
		}
		return nil, fmt.Errorf("sshsig: not a public key line (ssh-ed25519 AAAA...): %w", err)
	}
	return pub, nil
}

// PublicKeyArg reads a public key given on a command line: the key line
// itself (starting with "ssh-"), or the name of a file holding one.
func PublicKeyArg(arg string) (ssh.PublicKey, error) {
	text := arg
	if !strings.HasPrefix(text, "ssh-") {
		b, err := os.ReadFile(text)
		if err != nil {
			return nil, err
		}
		text = string(b)
	}
	return ParsePublicKey(text)
}

// Fingerprint is the key's SHA256 fingerprint, as ssh-keygen -l prints it.
func Fingerprint(pub ssh.PublicKey) string { return ssh.FingerprintSHA256(pub) }

// Verify checks that armored is a signature of msg in Namespace made by
// pub. Every refusal wraps ErrBadSignature and says why.
func Verify(pub ssh.PublicKey, msg, armored []byte) error {
	bad := func(why string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadSignature, fmt.Sprintf(why, a...))
	}
	blob, err := unarmor(armored)
	if err != nil {
		return bad("%v", err)
	}
	if !bytes.HasPrefix(blob, []byte(magic)) {
		return bad("not an SSH signature")
	}
	var s sigBlob
	if err := ssh.Unmarshal(blob[len(magic):], &s); err != nil {
		return bad("malformed: %v", err)
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal(s.Signature, &sig); err != nil {
		return bad("malformed signature: %v", err)
	}
	switch {
	case s.Version != version:
		return bad("version %d, not %d", s.Version, version)
	case s.Namespace != Namespace:
		return bad("made for namespace %q, not %q", s.Namespace, Namespace)
	case !bytes.Equal(s.PublicKey, pub.Marshal()):
		signer, err := ssh.ParsePublicKey(s.PublicKey)
		if err != nil {
			return bad("made by an unreadable key")
		}
		return bad("made by %s, not by the pinned signer %s", Fingerprint(signer), Fingerprint(pub))
	}
	var hash []byte
	switch s.HashAlg {
	case "sha512":
		h := sha512.Sum512(msg)
		hash = h[:]
	case "sha256":
		h := sha256.Sum256(msg)
		hash = h[:]
	default:
		return bad("unknown hash %q", s.HashAlg)
	}
	if err := pub.Verify(signedData(s.Namespace, s.HashAlg, hash), &sig); err != nil {
		return bad("the content was changed after signing, or the signature was forged")
	}
	return nil
}

func unarmor(armored []byte) ([]byte, error) {
	text := strings.TrimSpace(string(armored))
	if !strings.HasPrefix(text, armorBegin) || !strings.HasSuffix(text, armorEnd) {
		return nil, errors.New("not an armored SSH signature")
	}
	body := strings.TrimSuffix(strings.TrimPrefix(text, armorBegin), armorEnd)
	blob, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, fmt.Errorf("armor: %w", err)
	}
	return blob, nil
}
