package config

import (
	"os"
	"path/filepath"
	"testing"
)

// pathsYAML names every path a configuration may hold relatively.
const pathsYAML = `storage:
  type: local
  path: backups
encryption:
  recipients_file: keys/recipients.txt
  signing_key_file: keys/signing.key
postgres:
  password_file: secrets/pg.pass
drill:
  schedule: "@weekly"
  identity_file: keys/identity.txt
`

// TestRelativePathsFollowTheConfig: every relative path of the file is
// taken relative to the file's directory, whatever the working directory
// and however the file itself is named (absolute, relative, with "..").
func TestRelativePathsFollowTheConfig(t *testing.T) {
	root := t.TempDir()
	conf := filepath.Join(root, "etc", "mbackup")
	elsewhere := filepath.Join(root, "home", "admin")
	for _, d := range []string{filepath.Join(conf, "keys"), filepath.Join(conf, "secrets"), elsewhere} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{
		"mbackup.yaml": pathsYAML, "keys/recipients.txt": testRecipient + "\n", "secrets/pg.pass": "pw\n",
	} {
		if err := os.WriteFile(filepath.Join(conf, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name, wd, config string
	}{
		{"absolute config, run from elsewhere", elsewhere, filepath.Join(conf, "mbackup.yaml")},
		{"relative config, run from elsewhere", elsewhere, "../../etc/mbackup/mbackup.yaml"},
		{"config in the working directory", conf, "mbackup.yaml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(tt.wd)
			c, _, err := Load(tt.config)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []struct{ key, got, rel string }{
				{"storage.path", c.Storage.Path, "backups"},
				{"encryption.recipients_file", c.Encryption.RecipientsFile, "keys/recipients.txt"},
				{"encryption.signing_key_file", c.Encryption.SigningKeyFile, "keys/signing.key"},
				{"postgres.password_file", c.Postgres.PasswordFile, "secrets/pg.pass"},
				{"drill.identity_file", c.Drill.IdentityFile, "keys/identity.txt"},
			} {
				if want := filepath.Join(conf, p.rel); p.got != want {
					t.Errorf("%s = %q, want %q", p.key, p.got, want)
				}
			}
			if c.Postgres.Password.Reveal() != "pw" {
				t.Errorf("postgres.password_file not read from the configuration's directory")
			}
		})
	}
}

// TestAbsoluteStoragePathKept: an absolute storage.path is used as written,
// and the default stays /var/backups/mbackup.
func TestAbsoluteStoragePathKept(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"storage:\n  type: local\n  path: /srv/backups/../mbackup\n", "/srv/backups/../mbackup"},
		{"storage:\n  type: local\n", DefaultLocalPath},
	} {
		c, _, err := loadYAML(t, t.TempDir(), tt.yaml+"encryption:\n  recipients: ["+testRecipient+"]\n")
		if err != nil {
			t.Fatal(err)
		}
		if c.Storage.Path != tt.want {
			t.Errorf("storage.path = %q, want %q", c.Storage.Path, tt.want)
		}
	}
}
