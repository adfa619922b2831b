package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A verifier's configuration: a store, the signer to trust and a drill
// section; no recipients, nothing to back up.
const verifierYAML = `storage:
  type: local
  path: /backups
drill:
  schedule: "0 5 * * 0"
  identity_file: keys/identity.txt
`

func TestDrillVerifier(t *testing.T) {
	dir := t.TempDir()
	c, _, err := loadYAML(t, dir, verifierYAML)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Verifier() || c.BacksUp() {
		t.Errorf("Verifier = %v, BacksUp = %v; want a verifier that backs up nothing", c.Verifier(), c.BacksUp())
	}
	if want := filepath.Join(dir, "keys/identity.txt"); c.Drill.IdentityFile != want {
		t.Errorf("identity_file = %q, want %q (relative to the configuration)", c.Drill.IdentityFile, want)
	}
	if c.Drill.Dir != DefaultDrillDir {
		t.Errorf("dir = %q, want the default %q", c.Drill.Dir, DefaultDrillDir)
	}
}

func TestDrillAbsent(t *testing.T) {
	c, _, err := loadYAML(t, t.TempDir(), base+"postgres:\n  user: x\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Drill != nil || c.Verifier() || !c.BacksUp() {
		t.Errorf("Drill = %+v, Verifier = %v, BacksUp = %v", c.Drill, c.Verifier(), c.BacksUp())
	}
}

func TestDrillRefused(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"no schedule", "storage: {type: local}\ndrill:\n  identity_file: /k\n",
			`mbackup.yaml:2: drill.schedule: required: when the daemon drills, like "0 5 * * 0" (weekly, UTC)`},
		{"bad schedule", "storage: {type: local}\ndrill:\n  schedule: weekly\n  identity_file: /k\n",
			`mbackup.yaml:3: drill.schedule: not a schedule`},
		{"no identity", "storage: {type: local}\ndrill:\n  schedule: \"@weekly\"\n",
			`mbackup.yaml:2: drill.identity_file: required`},
		{"relative dir", "storage: {type: local}\ndrill:\n  schedule: \"@weekly\"\n  identity_file: /k\n  dir: tmp\n",
			`mbackup.yaml:5: drill.dir: must be an absolute path, such as /var/tmp`},
		{"backs up without recipients", "storage: {type: local}\nfiles: [/etc]\ndrill:\n  schedule: \"@weekly\"\n  identity_file: /k\n",
			`encryption.recipients: at least one recipient is required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := loadYAML(t, t.TempDir(), tc.yaml)
			var got []string
			for _, p := range problemsOf(err) {
				got = append(got, p.Error())
			}
			if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("problems %q, want one starting %q", got, tc.want)
			}
		})
	}
}
