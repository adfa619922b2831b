package main

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"mbackup/internal/config"
)

// testGroup is a group this test may give files to: as root any group
// ("daemon", which Debian always has), else this process's own.
func testGroup(t *testing.T) (name string, gid int) {
	t.Helper()
	var g *user.Group
	var err error
	if os.Geteuid() == 0 {
		g, err = user.LookupGroup("daemon")
	} else {
		g, err = user.LookupGroupId(strconv.Itoa(os.Getgid()))
	}
	if err != nil {
		t.Fatalf("no group to give the files to: %v", err)
	}
	gid, _ = strconv.Atoi(g.Gid)
	return g.Name, gid
}

// ownedBy fails unless path has mode perm and group gid.
func ownedBy(t *testing.T, path string, perm os.FileMode, gid int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != perm || int(st.Gid) != gid {
		t.Errorf("%s: mode %v group %d, want %v group %d", path, fi.Mode().Perm(), st.Gid, perm, gid)
	}
}

// TestInitGroup: with --group, init makes its directory 0750 and every
// file 0640, all of that group, and the configuration loads without a
// warning; an existing directory the group cannot enter is left alone,
// with a warning giving the command; an unknown group writes nothing.
func TestInitGroup(t *testing.T) {
	group, gid := testGroup(t)
	from := filepath.Join(t.TempDir(), "env.production")
	os.WriteFile(from, []byte("DB_PASS=one\nREDIS_PASSWORD=two\n"), 0o600)

	t.Run("new directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "mbackup")
		cfg := filepath.Join(dir, "mbackup.yaml")
		code, out, errOut := mbackup(t, "init", "--from", from, "-o", cfg, "--group", group)
		if code != exitOK || errOut != "" {
			t.Fatalf("init --group exited %d:\n%s%s", code, out, errOut)
		}
		ownedBy(t, dir, 0o750, gid)
		for _, name := range []string{"mbackup.yaml", "pg.pass", "redis.pass", "signing.key"} {
			ownedBy(t, filepath.Join(dir, name), 0o640, gid)
		}
		if !strings.Contains(out, "pg.pass (0640, group "+group+")") {
			t.Errorf("init does not say the files' mode and group:\n%s", out)
		}
		fillTODOs(t, cfg)
		os.Chmod(cfg, 0o640)
		if _, warns, err := config.Load(cfg); err != nil || len(warns) > 0 {
			t.Errorf("load: %v, warnings %v", err, warns)
		}
	})
	t.Run("existing directory closed to the group", func(t *testing.T) {
		dir := t.TempDir()
		os.Chmod(dir, 0o700)
		code, out, errOut := mbackup(t, "init", "--from", from, "-o", filepath.Join(dir, "mbackup.yaml"), "--group", group)
		want := "mbackup: warning: group " + group + " cannot enter " + dir + ": chown root:" + group + " " + dir + " && chmod 0750 " + dir
		if code != exitOK || !strings.Contains(errOut, want) {
			t.Fatalf("init exited %d, want a warning %q:\n%s%s", code, want, out, errOut)
		}
		if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
			t.Errorf("init changed the existing directory to %v", fi.Mode().Perm())
		}
		ownedBy(t, filepath.Join(dir, "mbackup.yaml"), 0o640, gid)
	})
	t.Run("unknown group", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "mbackup")
		code, out, errOut := mbackup(t, "init", "--from", from, "-o", filepath.Join(dir, "mbackup.yaml"), "--group", "no-such-group-xyz")
		want := "init: --group no-such-group-xyz: group: unknown group no-such-group-xyz: create it first (useradd --system --shell /usr/sbin/nologin no-such-group-xyz"
		if code != exitError || !strings.Contains(errOut, want) {
			t.Fatalf("init exited %d, want %q:\n%s%s", code, want, out, errOut)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("init made %s for an unknown group (%v)", dir, err)
		}
	})
	t.Run("without --group", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "mbackup")
		if code, out, errOut := mbackup(t, "init", "--from", from, "-o", filepath.Join(dir, "mbackup.yaml")); code != exitOK {
			t.Fatalf("init exited %d:\n%s%s", code, out, errOut)
		}
		ownedBy(t, dir, 0o700, os.Getegid())
		ownedBy(t, filepath.Join(dir, "pg.pass"), 0o600, os.Getegid())
	})
}
