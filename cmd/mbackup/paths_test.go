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

// TestMirrorReverseNeverCreatesTheStore: the way back only reads the
// mirror, so a mistyped storage.path is an error naming it, not an empty
// mirror copied into the target bucket.
func TestMirrorReverseNeverCreatesTheStore(t *testing.T) {
	dir, cfg := setup(t, "")
	text, _ := os.ReadFile(cfg)
	text = []byte(strings.Replace(string(text), "path: "+filepath.Join(dir, "store"), "path: relstore", 1))
	text = append(text, "media:\n  source: {endpoint: \"http://127.0.0.1:1\", region: us-east-1, bucket: media, access_key_id: AK, secret_access_key_file: media.key}\n"...)
	os.WriteFile(cfg, text, 0o600)
	os.WriteFile(filepath.Join(dir, "media.key"), []byte("secret\n"), 0o600)
	store := filepath.Join(dir, "relstore")
	t.Setenv("AWS_ACCESS_KEY_ID", "AK")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	code, out, errOut := mbackup(t, "--config", cfg, "mirror", "--reverse", "--to-endpoint", "http://127.0.0.1:1", "--to-bucket", "media")
	want := "local: store " + store + " does not exist: check storage.path in the configuration"
	if code != exitError || !strings.Contains(errOut, want) {
		t.Errorf("exited %d, want %d with %q:\n%s%s", code, exitError, want, out, errOut)
	}
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Errorf("%s was created (%v)", store, err)
	}
}

// TestDrillAsksForTheIdentityFirst: a drill without an identity is a usage
// error whatever the store, so the admin fixes the command line before
// looking for a store that may only be missing because of it.
func TestDrillAsksForTheIdentityFirst(t *testing.T) {
	dir, cfg := setup(t, "")
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), "path: "+filepath.Join(dir, "store"), "path: missing", 1)), 0o600)
	code, out, errOut := mbackup(t, "--config", cfg, "drill")
	if code != exitUsage || !strings.Contains(errOut, "-i FILE") || strings.Contains(errOut, "does not exist") {
		t.Errorf("exited %d, want %d asking for -i FILE only:\n%s%s", code, exitUsage, out, errOut)
	}
}

// TestCheckNeverCreatesTheStore: check says the first backup creates a
// missing local store, and leaves it missing.
func TestCheckNeverCreatesTheStore(t *testing.T) {
	dir, cfg := setup(t, "")
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), "path: "+filepath.Join(dir, "store"), "path: relstore", 1)), 0o600)
	store := filepath.Join(dir, "relstore")
	_, out, errOut := mbackup(t, "--config", cfg, "check")
	if !strings.Contains(out+errOut, store+" does not exist yet: the first mbackup backup creates it") {
		t.Errorf("check does not say the store is missing:\n%s%s", out, errOut)
	}
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Errorf("check created %s (%v)", store, err)
	}
}
