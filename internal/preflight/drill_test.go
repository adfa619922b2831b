package preflight

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"mbackup/internal/config"
	"mbackup/internal/sandbox"
)

func TestDrillProbe(t *testing.T) {
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(dir, "identity.txt")
	os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)

	// Everything in place, with the machine's server programs.
	rs := drill(&config.Drill{IdentityFile: idFile, Dir: dir}, sandbox.Binaries{})
	for _, r := range rs {
		if r.Level != OK {
			t.Errorf("with the machine's programs: %+v", r)
		}
	}
	if len(rs) != 6 || !strings.Contains(rs[1].Message, "writable") || !strings.Contains(rs[2].Message, "PostgreSQL") {
		t.Errorf("results: %+v", rs)
	}

	// No identity, a directory that is a file, no server programs.
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o600)
	empty := t.TempDir()
	rs = drill(&config.Drill{IdentityFile: filepath.Join(dir, "none.txt"), Dir: notDir},
		sandbox.Binaries{Dirs: []string{empty}, PostgresRoot: empty})
	levels := ""
	for _, r := range rs {
		levels += [...]string{"ok ", "warn ", "fail "}[r.Level]
	}
	if levels != "fail fail warn warn warn warn " {
		t.Errorf("levels %q, want fail fail warn warn warn warn: %+v", levels, rs)
	}
	if !strings.Contains(rs[3].Message, "mariadbd not found") || !strings.Contains(rs[3].Message, "apt-get install -y mariadb-server") {
		t.Errorf("missing mariadbd: %+v", rs[3])
	}
	if !strings.Contains(rs[2].Message, "install one with: apt-get install -y postgresql") {
		t.Errorf("missing PostgreSQL: %+v", rs[2])
	}
}
