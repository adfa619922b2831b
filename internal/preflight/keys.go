package preflight

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"mbackup/internal/config"
	"mbackup/internal/snapshot"
	"mbackup/internal/sshsig"
)

// recipients reports the age recipients by their fingerprints.
func recipients(cfg *config.Config) []Result {
	r := &results{what: "recipients"}
	if _, err := cfg.Encryption.AgeRecipients(); err != nil {
		r.fail(err.Error(), "set encryption.recipients (or recipients_file) to age1... recipients: mbackup keygen, run where the identity is kept, prints one")
		return r.rs
	}
	texts := cfg.Encryption.All
	var fps []string
	for _, t := range texts {
		fps = append(fps, snapshot.Fingerprint(t))
	}
	r.ok(fmt.Sprintf("%d age recipient(s), fingerprints %s", len(texts), strings.Join(fps, ", ")))
	if cfg.Encryption.PostQuantum {
		r.warn("post-quantum recipients: restoring by hand needs age 1.3 or later (Debian 12 has 1.1.1)", "")
	}
	return r.rs
}

// signing reports the signing key: Fail when it cannot be used, Warn
// when there is none (restores then refuse the snapshots by default) or
// when no signer is pinned.
func signing(cfg *config.Config) []Result {
	r := &results{what: "signing"}
	k, err := cfg.Encryption.SigningKey()
	switch {
	case err != nil:
		r.fail(err.Error(), "encryption.signing_key_file must be an ssh-ed25519 private key this user may read: make one with mbackup keygen --signing -o FILE")
	case k == nil:
		r.warn("encryption.signing_key_file is not set", "snapshots are not signed, and restore and verify "+
			"refuse them unless told --insecure-skip-signature; make a key with mbackup keygen --signing -o /etc/mbackup/signing.key")
	case cfg.Encryption.Signer == "":
		r.warn(fmt.Sprintf("manifests are signed by %s; set encryption.signer to %q and keep that line with "+
			"your identity: a restore elsewhere trusts only the signer it is given", sshsig.Fingerprint(k.PublicKey()), k.AuthorizedKey("")), "")
	default:
		r.ok(fmt.Sprintf("manifests are signed by %s, the pinned encryption.signer", sshsig.Fingerprint(k.PublicKey())))
	}
	return r.rs
}

// identityDirs are the places an admin would leave an age identity:
// beside the configuration, in /etc/mbackup and in the home directory.
func identityDirs(configPath string) []string {
	dirs := []string{filepath.Dir(configPath), "/etc/mbackup"}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, home)
	}
	return dirs
}

// identities warns about the age identities readable in dirs.
func identities(dirs []string) []Result {
	r := &results{what: "identity"}
	var found []string
	seen := map[string]bool{}
	for _, d := range dirs {
		entries, _ := os.ReadDir(d)
		for _, en := range entries {
			p := filepath.Join(d, en.Name())
			if !seen[p] && en.Type().IsRegular() && holdsIdentity(p) {
				found = append(found, p)
			}
			seen[p] = true
		}
	}
	if len(found) > 0 {
		r.warn(strings.Join(found, ", ")+" hold(s) an age identity", "the backup host needs only recipients; "+
			"keep identities offline, or anyone who takes this host can read every backup")
		return r.rs
	}
	r.ok("no age identity beside the config, in /etc/mbackup or the home directory")
	return r.rs
}

// holdsIdentity reports whether the file's first lines hold an age identity.
func holdsIdentity(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
	for i := 0; i < 20 && sc.Scan(); i++ {
		if strings.HasPrefix(strings.TrimSpace(sc.Text()), "AGE-SECRET-KEY-") {
			return true
		}
	}
	return false
}
