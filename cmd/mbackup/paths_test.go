package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadOnlyCommandsNeverCreateTheStore: with a relative storage.path
// that does not exist, run from another directory, each command that only
// reads fails with exit 1 naming the store's absolute path (beside the
// configuration, not the working directory) and creates nothing; prune,
// a writer, then creates the store there as before.
func TestReadOnlyCommandsNeverCreateTheStore(t *testing.T) {
	dir, cfg := setup(t, "")
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), "path: "+filepath.Join(dir, "store"), "path: relstore", 1)), 0o600)
	store, elsewhere := filepath.Join(dir, "relstore"), t.TempDir()
	t.Chdir(elsewhere)
	for _, args := range [][]string{
		{"list"}, {"list", "--json"}, {"status"}, {"status", "--json"}, {"verify"}, {"restore"},
		{"drill", "-i", filepath.Join(dir, "id.txt")},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := mbackup(t, append([]string{"--config", cfg}, args...)...)
			want := "local: store " + store + " does not exist: check storage.path in the configuration (mbackup backup creates the store)"
			if code != exitError || !strings.Contains(errOut, want) {
				t.Errorf("exited %d, want %d with %q:\n%s%s", code, exitError, want, out, errOut)
			}
			for _, d := range []string{store, filepath.Join(elsewhere, "relstore")} {
				if _, err := os.Stat(d); !os.IsNotExist(err) {
					t.Fatalf("%s was created (%v)", d, err)
				}
			}
		})
	}
	if code, out, errOut := mbackup(t, "--config", cfg, "prune"); code != exitOK {
		t.Fatalf("prune exited %d:\n%s%s", code, out, errOut)
	}
	if fi, err := os.Stat(store); err != nil || !fi.IsDir() {
		t.Errorf("prune did not create the store beside the configuration: %v", err)
	}
	if code, out, errOut := mbackup(t, "--config", cfg, "list"); code != exitOK || !strings.HasPrefix(out, "ID") {
		t.Errorf("list of the created store exited %d:\n%s%s", code, out, errOut)
	}
}
