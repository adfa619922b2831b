package draft

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"mbackup/internal/newfile"
	"mbackup/internal/sshsig"
)

// Trial drafts the configuration of mbackup quickstart: a local store at
// store (a path, written as it is), the recipient and the signer, and a
// section for each service found by [ProbeLocal], with its password in a
// secret file. It is an error when no service answered.
func Trial(store, recipient, signer string, probes []Probe) (*Draft, error) {
	for _, v := range [][2]string{{"the store path", store}, {"the recipient", recipient}, {"the signer", signer}} {
		if err := validText(v[0], v[1]); err != nil {
			return nil, fmt.Errorf("draft: %w", err)
		}
	}
	d := &Draft{Signer: signer}
	b := &doc{}
	b.WriteString(trialHeader)
	b.line("storage:", "")
	b.line("  type: local", "")
	b.line("  path: "+quote(store), "")
	b.line("encryption:", "")
	b.line("  recipients: ["+quote(recipient)+"]", "")
	b.line("  signing_key_file: signing.key", "signs every manifest")
	b.line("  signer: "+quote(signer), "the key restore and verify trust")
	for _, p := range probes {
		if p.Err != nil || p.section == nil {
			continue
		}
		if err := p.section(b, d); err != nil {
			return nil, fmt.Errorf("draft: %w", err)
		}
		d.Found = append(d.Found, p.Service+" "+p.Summary)
	}
	if len(d.Found) == 0 {
		return nil, errors.New("draft: found no PostgreSQL, Redis or MySQL/MariaDB to back up on this machine")
	}
	d.YAML = b.String()
	return d, nil
}

const trialHeader = `# Written by mbackup quickstart: a trial on this machine. For production see
# configs/mbackup.example.yaml: a B2 bucket, and only a recipient whose
# identity lives on your own computer.
`

// Keys are the age identity and the signing key of a trial directory.
type Keys struct {
	Recipient   string // of the identity
	Signer      string // the signing key's public line
	NewIdentity bool   // the identity was made now, not read
}

// TrialKeys reads dir/identity.txt and dir/signing.key, making (0600,
// never overwriting) each one that does not exist.
func TrialKeys(dir string) (Keys, error) {
	var k Keys
	var err error
	if k.Recipient, k.NewIdentity, err = identity(filepath.Join(dir, "identity.txt")); err != nil {
		return k, err
	}
	k.Signer, err = trialSigningKey(filepath.Join(dir, "signing.key"))
	return k, err
}

// identity makes the age identity at path unless it exists, and returns
// its recipient.
func identity(path string) (recipient string, made bool, err error) {
	if b, err := os.ReadFile(path); err == nil {
		ids, err := age.ParseIdentities(strings.NewReader(string(b)))
		if err != nil || len(ids) == 0 {
			return "", false, fmt.Errorf("%s: not an age identity file: %v", path, err)
		}
		x, ok := ids[0].(*age.X25519Identity)
		if !ok {
			return "", false, fmt.Errorf("%s: not an X25519 identity", path)
		}
		return x.Recipient().String(), false, nil
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", false, err
	}
	text := fmt.Sprintf("# public key: %s\n%s\n", id.Recipient(), id)
	if err := newfile.Write(path, []byte(text)); err != nil {
		return "", false, err
	}
	return id.Recipient().String(), true, nil
}

// trialSigningKey makes the signing key at path unless it exists, and
// returns its public line.
func trialSigningKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return NewSigningKey(path)
	} else if err != nil {
		return "", err
	}
	k, err := sshsig.ParsePrivateKey(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return k.AuthorizedKey(""), nil
}
