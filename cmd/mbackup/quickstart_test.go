package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mbackup/internal/config"
	"mbackup/internal/testenv"
)

func TestQuickstart(t *testing.T) {
	redis.Do(t, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	maria.Exec(t, "", "CREATE DATABASE IF NOT EXISTS quick_blog")
	dir := filepath.Join(t.TempDir(), "qs")
	t.Setenv("PGPASSWORD", pg.Password)
	t.Setenv("REDISCLI_AUTH", redis.Password)
	t.Setenv("MYSQL_PWD", maria.Password)
	args := []string{"quickstart", "--dir", dir,
		"--pg-host", pg.Host, "--pg-port", fmt.Sprint(pg.Port), "--pg-user", pg.User,
		"--redis-url", "redis://" + redis.Addr + "/0",
		"--mysql-host", maria.Host, "--mysql-port", fmt.Sprint(maria.Port), "--mysql-user", maria.User}
	code, out, errOut := mbackup(t, args...)
	if code != exitOK {
		t.Fatalf("quickstart exited %d:\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"PostgreSQL found", "Redis      found", "MySQL      found", "complete", "verified: the manifest's signature, and every artifact", "mbackup keygen -o"} {
		if !strings.Contains(out, want) {
			t.Errorf("quickstart output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"identity.txt", "mbackup.yaml", "pg.pass", "redis.pass", "mysql.pass"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", f, err, fi.Mode())
		}
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "mbackup.yaml"))
	for _, secret := range []string{pg.Password, redis.Password, maria.Password} {
		if strings.Contains(string(cfg), secret) || strings.Contains(out+errOut, secret) {
			t.Errorf("a password is in the config or the output")
		}
	}
	// A second run reuses the identity and config and takes another snapshot.
	code, out, errOut = mbackup(t, args...)
	if code != exitOK || !strings.Contains(out, "reusing") || !strings.Contains(out, "(existing)") {
		t.Fatalf("second quickstart exited %d:\n%s\n%s", code, out, errOut)
	}
	code, out, _ = mbackup(t, "--config", filepath.Join(dir, "mbackup.yaml"), "list")
	if code != 0 || strings.Count(out, "complete") != 2 {
		t.Errorf("list after two quickstarts:\n%s", out)
	}
}

func TestQuickstartLeavesOutWhatIsNotRunning(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "qs")
	t.Setenv("PGPASSWORD", pg.Password)
	closed := testenv.FreePort(t)
	code, out, errOut := mbackup(t, "quickstart", "--dir", dir,
		"--pg-host", pg.Host, "--pg-port", fmt.Sprint(pg.Port), "--pg-user", pg.User,
		"--redis-url", fmt.Sprintf("redis://127.0.0.1:%d/0", closed),
		"--mysql-host", "127.0.0.1", "--mysql-port", fmt.Sprint(closed))
	if code != exitOK {
		t.Fatalf("quickstart exited %d:\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "Redis      left out") || !strings.Contains(out, "MySQL      left out") || !strings.Contains(out, "PostgreSQL found") {
		t.Errorf("quickstart output:\n%s", out)
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "mbackup.yaml"))
	if strings.Contains(string(cfg), "redis:") || strings.Contains(string(cfg), "mysql:") {
		t.Errorf("config holds services that were not running:\n%s", cfg)
	}
}

func TestQuickstartNothingFound(t *testing.T) {
	closed := testenv.FreePort(t)
	dir := filepath.Join(t.TempDir(), "qs")
	code, out, errOut := mbackup(t, "quickstart", "--dir", dir,
		"--pg-host", "127.0.0.1", "--pg-port", fmt.Sprint(closed),
		"--redis-url", fmt.Sprintf("redis://127.0.0.1:%d/0", closed),
		"--mysql-host", "127.0.0.1", "--mysql-port", fmt.Sprint(closed))
	if code != exitError || !strings.Contains(errOut, "found no PostgreSQL, Redis or MySQL/MariaDB") {
		t.Fatalf("quickstart with nothing running exited %d:\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "mbackup.yaml")); err == nil {
		t.Error("a config was written although nothing was found")
	}
}

// TestQuickstartDirWithHash: a --dir with " #" in it (which YAML would
// read as the start of a comment if written bare) gets the store exactly
// there, not in the directory before the "#".
func TestQuickstartDirWithHash(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "trial #2")
	code, out, errOut := quickstartPostgresOnly(t, dir)
	if code != exitOK {
		t.Fatalf("quickstart exited %d:\n%s\n%s", code, out, errOut)
	}
	c, _, err := config.Load(filepath.Join(dir, "mbackup.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "backups"); c.Storage.Path != want {
		t.Errorf("storage.path = %q, want %q", c.Storage.Path, want)
	}
	if fi, err := os.Stat(filepath.Join(dir, "backups", "snapshots")); err != nil || !fi.IsDir() {
		t.Errorf("no snapshots in %s/backups: %v", dir, err)
	}
	if _, err := os.Lstat(filepath.Join(parent, "trial")); err == nil {
		t.Errorf("a store in %s", filepath.Join(parent, "trial"))
	}
}

// TestQuickstartPasswordFileInTheWay: quickstart writes a password file
// only new: a symbolic link or a file already at its path stops it before
// the configuration is written, and the link's target and the file stay as
// they were.
func TestQuickstartPasswordFileInTheWay(t *testing.T) {
	for _, link := range []bool{true, false} {
		t.Run(fmt.Sprintf("symlink=%v", link), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "qs")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			pass := filepath.Join(dir, "pg.pass")
			target := pass
			if link {
				target = filepath.Join(t.TempDir(), "elsewhere")
				if err := os.Symlink(target, pass); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(target, []byte("keep\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := quickstartPostgresOnly(t, dir)
			if code != exitError || !strings.Contains(errOut, pass+" already exists") {
				t.Fatalf("quickstart exited %d:\n%s\n%s", code, out, errOut)
			}
			fi, err := os.Stat(target)
			if b, _ := os.ReadFile(target); err != nil || string(b) != "keep\n" || fi.Mode().Perm() != 0o644 {
				t.Errorf("%s changed: %q, %v", target, b, fi.Mode())
			}
			if fi, err := os.Lstat(pass); err != nil || (fi.Mode()&os.ModeSymlink != 0) != link {
				t.Errorf("%s replaced: %v %v", pass, fi.Mode(), err)
			}
			if _, err := os.Stat(filepath.Join(dir, "mbackup.yaml")); err == nil {
				t.Error("a configuration written beside a password file in the way")
			}
			if strings.Contains(out+errOut, pg.Password) {
				t.Error("the password in the output")
			}
		})
	}
}

// quickstartPostgresOnly runs quickstart into dir with PostgreSQL
// (PGPASSWORD set) and nothing listening where it looks for Redis and
// MySQL.
func quickstartPostgresOnly(t *testing.T, dir string) (code int, out, errOut string) {
	t.Helper()
	t.Setenv("PGPASSWORD", pg.Password)
	closed := testenv.FreePort(t)
	return mbackup(t, "quickstart", "--dir", dir,
		"--pg-host", pg.Host, "--pg-port", fmt.Sprint(pg.Port), "--pg-user", pg.User,
		"--redis-url", fmt.Sprintf("redis://127.0.0.1:%d/0", closed),
		"--mysql-host", "127.0.0.1", "--mysql-port", fmt.Sprint(closed))
}

// TestQuickstartRelativeDir: quickstart run with a relative --dir writes
// absolute paths into the configuration, so that it works from any
// directory afterwards.
func TestQuickstartRelativeDir(t *testing.T) {
	parent := t.TempDir()
	t.Chdir(parent)
	code, out, errOut := quickstartPostgresOnly(t, "qs")
	if code != exitOK {
		t.Fatalf("quickstart exited %d:\n%s\n%s", code, out, errOut)
	}
	dir := filepath.Join(parent, "qs")
	text, _ := os.ReadFile(filepath.Join(dir, "mbackup.yaml"))
	if !strings.Contains(string(text), "path: \""+filepath.Join(dir, "backups")+"\"\n") {
		t.Errorf("the configuration has no absolute storage.path %s:\n%s", filepath.Join(dir, "backups"), text)
	}
	if !strings.Contains(out, "mbackup --config "+filepath.Join(dir, "mbackup.yaml")+" list") {
		t.Errorf("the next steps do not name the configuration by its absolute path:\n%s", out)
	}
	t.Chdir(t.TempDir())
	if code, out, errOut := mbackup(t, "--config", filepath.Join(dir, "mbackup.yaml"), "list"); code != exitOK || strings.Count(out, "complete") != 1 {
		t.Errorf("list from another directory exited %d:\n%s%s", code, out, errOut)
	}
}

// TestQuickstartCannotCreateDir: a --dir quickstart cannot create fails
// naming the directory, the cause and --dir (the same message for
// "permission denied"); so does one holding a file quickstart cannot use.
func TestQuickstartCannotCreateDir(t *testing.T) {
	parent := t.TempDir()
	file := filepath.Join(parent, "file")
	os.WriteFile(file, nil, 0o600)
	bad := filepath.Join(parent, "bad")
	os.Mkdir(bad, 0o700)
	os.WriteFile(filepath.Join(bad, "identity.txt"), []byte("not a key\n"), 0o600)
	for _, tt := range []struct{ name, dir, want string }{
		{"under a file", filepath.Join(file, "qs"), "quickstart: cannot create " + filepath.Join(file, "qs") + ": not a directory: choose a directory you may write with --dir DIR"},
		{"relative under a file", "file/qs", "quickstart: cannot create " + filepath.Join(file, "qs") + ": not a directory: choose a directory you may write with --dir DIR"},
		{"unusable identity", bad, "quickstart: " + filepath.Join(bad, "identity.txt") + ": not an age identity file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(parent)
			code, out, errOut := mbackup(t, "quickstart", "--dir", tt.dir)
			if code != exitError || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "--dir DIR") {
				t.Errorf("quickstart exited %d, want %d with %q and --dir:\n%s%s", code, exitError, tt.want, out, errOut)
			}
		})
	}
}

// TestQuickstartNextQuoted: the commands quickstart prints run in a shell
// as they are, whatever the directory's name.
func TestQuickstartNextQuoted(t *testing.T) {
	for _, dir := range []string{"/srv/qs", "/tmp/trial #2", "/tmp/it's here", "/tmp/$HOME `x` *"} {
		next := quickstartNext(dir, "20260101T000000Z")
		line := strings.TrimPrefix(strings.Split(strings.TrimSpace(next), "\n")[0], "Look at it:    mbackup --config ")
		arg := strings.TrimSuffix(line, " list")
		got, err := exec.Command("sh", "-c", "printf %s "+arg).Output()
		if want := filepath.Join(dir, "mbackup.yaml"); err != nil || string(got) != want {
			t.Errorf("--dir %q prints %q, which the shell reads as %q (%v), want %q", dir, arg, got, err, want)
		}
	}
}
