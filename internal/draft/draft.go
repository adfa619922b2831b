// Package draft drafts an mbackup configuration: from the settings of a
// Mastodon instance (the variables of its .env.production, as
// internal/dotenv parses them) for mbackup init, and from the services
// found running on this machine for mbackup quickstart.
//
// Invariants:
//   - What a draft says loads with config.Load as exactly the values
//     drafted: every string value is written by one writer (quote), whose
//     output YAML and config's ${NAME} expansion read back as the input,
//     whatever it holds (#, :, quotes, newlines, a leading - or *, yes,
//     null, spaces, unicode). A value that YAML cannot carry (invalid
//     UTF-8) is an error naming the setting, never written changed.
//   - Secrets never appear in the configuration text, in the summary lines
//     or in an error: each one goes to its own 0600 file beside the
//     configuration, which names it in an x_file key ([Draft.WriteGroup]:
//     0640, readable by one group, never by every user).
//   - Writing creates every file new (internal/newfile): an existing file
//     or symbolic link at any of the paths stops it before anything is
//     written, nothing is followed or overwritten, and a failed write
//     removes what it wrote.
//   - Drafting reads nothing but its arguments (and the host name, for
//     the signing key's comment); only the probes of
//     [ProbeLocal] contact a service, and only [Draft.Write] and the key
//     functions ([NewSigningKey], [TrialKeys]) write files.
package draft

import (
	"os"
	"path/filepath"
	"strings"

	"mbackup/internal/newfile"
	"mbackup/internal/sshsig"
)

// Secret is a secret written to its own 0600 file beside the
// configuration, which names it in an x_file key.
type Secret struct {
	Name  string // file name, relative to the configuration's directory
	What  string // which settings it holds, for the summary
	Value string
}

// Draft is a drafted configuration and the secret files it names.
type Draft struct {
	YAML    string
	Secrets []Secret
	Found   []string // one line per source, without secrets
	Notes   []string // what was left out or could not be decided
	Signer  string   // the public line of the signing key, if the draft made one
}

// addSecret records a secret file and returns its name. A value already
// recorded for the same service (Redis main and Sidekiq sharing a password)
// reuses its file; another service gets its own even for an equal value, so
// that changing one password later does not break the other.
func (d *Draft) addSecret(name, what, value string) string {
	service := func(n string) string {
		return strings.FieldsFunc(n, func(r rune) bool { return r == '.' || r == '-' })[0]
	}
	for i, s := range d.Secrets {
		if s.Value == value && service(s.Name) == service(name) {
			d.Secrets[i].What += ", " + what
			return s.Name
		}
	}
	d.Secrets = append(d.Secrets, Secret{name, what, value})
	return name
}

// Write writes the secret files into the directory of cfg, then the
// configuration to cfg, all new: if any of them exists (a symbolic link
// included) the error is a [newfile.ExistsError] naming it, before
// anything is written. On failure, what was written is removed.
func (d *Draft) Write(cfg string) error { return d.write(cfg, nil) }

// WriteGroup is Write for a service that runs as another user: each file,
// once written 0600, is given to group gid and made 0640 (the owner
// writes, the group reads, nobody else). A file that cannot be is an
// error, and what was written is removed.
func (d *Draft) WriteGroup(cfg string, gid int) error {
	return d.write(cfg, func(p string) error {
		if err := os.Chown(p, -1, gid); err != nil {
			return err
		}
		return os.Chmod(p, 0o640)
	})
}

// write writes the files as Write says, calling share (when not nil) on
// each one written.
func (d *Draft) write(cfg string, share func(string) error) (err error) {
	dir := filepath.Dir(cfg)
	paths := []string{cfg}
	for _, s := range d.Secrets {
		paths = append(paths, filepath.Join(dir, s.Name))
	}
	if err := newfile.Absent(paths...); err != nil {
		return err
	}
	var written []string
	defer func() {
		if err != nil {
			for _, p := range written {
				os.Remove(p)
			}
		}
	}()
	for i, s := range d.Secrets {
		if err := newfile.Write(paths[i+1], []byte(s.Value+"\n")); err != nil {
			return err
		}
		written = append(written, paths[i+1])
		if share != nil {
			if err := share(paths[i+1]); err != nil {
				return err
			}
		}
	}
	if err := newfile.Write(cfg, []byte(d.YAML)); err != nil {
		return err
	}
	written = append(written, cfg)
	if share != nil {
		return share(cfg)
	}
	return nil
}

// NewSigningKey writes a new signing key to path (0600, never
// overwritten) and returns its public line, for encryption.signer.
func NewSigningKey(path string) (string, error) {
	priv, pub, err := signingKey()
	if err != nil {
		return "", err
	}
	if err := newfile.Write(path, priv); err != nil {
		return "", err
	}
	return pub, nil
}

// signingKey makes a signing key named after this host.
func signingKey() (priv []byte, pub string, err error) {
	host, _ := os.Hostname()
	return sshsig.GenerateKey("mbackup@" + host)
}
