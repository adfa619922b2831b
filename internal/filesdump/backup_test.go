package filesdump

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"mbackup/internal/dump"
)

// envSecrets are the values of the test .env.production: none may reach a
// manifest.
var envSecrets = map[string]string{
	"SECRET_KEY_BASE":   "skb-9f8e7d6c5b4a",
	"OTP_SECRET":        "otp-1a2b3c4d5e6f",
	"VAPID_PRIVATE_KEY": "vapid-priv-77aa88bb",
	"VAPID_PUBLIC_KEY":  "vapid-pub-99cc00dd",
	"ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY":   "ar-det-5566778899",
	"ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT": "ar-salt-1122334455",
	"ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY":         "ar-prim-aabbccddee",
}

func envFile(skip ...string) string {
	var b strings.Builder
	b.WriteString("# Mastodon\nLOCAL_DOMAIN=example.social\n")
	for _, k := range secretKeys {
		if !slices.Contains(skip, k.key) {
			b.WriteString(k.key + "=" + envSecrets[k.key] + "\n")
		}
	}
	return b.String()
}

// tree makes a small instance tree under dir and returns its root: a
// config directory with a .env.production, a unicode name, an empty
// directory, a relative symlink and files of several modes and mtimes.
func tree(t *testing.T, dir string) string {
	t.Helper()
	root := filepath.Join(dir, "srv")
	mustMkdir(t, filepath.Join(root, "live", "empty"), 0o750)
	mustWrite(t, filepath.Join(root, "live", EnvFile), envFile(), 0o600)
	mustWrite(t, filepath.Join(root, "live", "café ünï ☃.txt"), "unicode\n", 0o644)
	mustWrite(t, filepath.Join(root, "nginx.conf"), strings.Repeat("server {}\n", 1000), 0o640)
	mustWrite(t, filepath.Join(root, "run.sh"), "#!/bin/sh\n", 0o755)
	if err := os.Symlink("live/.env.production", filepath.Join(root, "env-link")); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	for _, p := range []string{"nginx.conf", "run.sh", "live/empty", "live"} {
		if err := os.Chtimes(filepath.Join(root, p), mt, mt); err != nil {
			t.Fatal(err)
		}
		mt = mt.Add(-time.Hour)
	}
	return root
}

func mustMkdir(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(p, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func dumpTree(t *testing.T, entry string) (dump.Info, []byte) {
	t.Helper()
	var buf bytes.Buffer
	info, err := Dump(context.Background(), entry, &buf)
	if err != nil {
		t.Fatal(err)
	}
	return info, buf.Bytes()
}

func TestDumpTree(t *testing.T) {
	root := tree(t, t.TempDir())
	if err := syscall.Mkfifo(filepath.Join(root, "live", "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(root, "live", "bad\xff", "inside"), "x", 0o644)
	info, data := dumpTree(t, root)
	tr := tar.NewReader(bytes.NewReader(data))
	var names []string
	sums := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Typeflag == tar.TypeReg {
			s := sha256.New()
			io.Copy(s, tr)
			sums["/"+h.Name] = hex.EncodeToString(s.Sum(nil))
		}
		if strings.HasPrefix(h.Name, "/") || h.Format != tar.FormatPAX && h.Format != tar.FormatUnknown {
			t.Errorf("header %q format %v", h.Name, h.Format)
		}
	}
	rel := strings.TrimPrefix(root, "/")
	want := []string{rel + "/", rel + "/env-link", rel + "/live/", rel + "/live/" + EnvFile, rel + "/live/café ünï ☃.txt",
		rel + "/live/empty/", rel + "/nginx.conf", rel + "/run.sh"}
	if !slices.Equal(names, want) {
		t.Errorf("tar names:\n got %q\nwant %q", names, want)
	}
	if info.FileCount != 4 || len(info.Files) != 5 {
		t.Errorf("info: %d files, %d sums: %+v", info.FileCount, len(info.Files), info.Files)
	}
	for _, f := range info.Files {
		if f.Link == "" && sums[f.Path] != f.SHA256 {
			t.Errorf("%s: sha256 %s in info, %s in the tar", f.Path, f.SHA256, sums[f.Path])
		}
		if f.Path == root+"/env-link" && f.Link != "live/.env.production" {
			t.Errorf("symlink recorded as %+v", f)
		}
	}
	if !slices.ContainsFunc(info.Notes, func(n string) bool { return strings.Contains(n, `bad\xff": skipped, its name is not valid UTF-8`) }) {
		t.Errorf("no note of the name: %q", info.Notes)
	}
	if !slices.ContainsFunc(info.Notes, func(n string) bool { return strings.Contains(n, "fifo: skipped, a FIFO") }) {
		t.Errorf("no note of the FIFO: %q", info.Notes)
	}
}

func TestDumpSecretsNamesOnly(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, EnvFile)
	mustWrite(t, env, envFile("ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY", "OTP_SECRET"), 0o600)
	info, _ := dumpTree(t, env)
	if len(info.Files) != 1 || len(info.Files[0].Keys) != 5 || slices.Contains(info.Files[0].Keys, "OTP_SECRET") {
		t.Fatalf("keys recorded: %+v", info.Files)
	}
	js, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range envSecrets {
		if bytes.Contains(js, []byte(v)) {
			t.Errorf("the value of %s is in the manifest: %s", k, js)
		}
	}
	notes := strings.Join(info.Notes, "\n")
	for _, s := range []string{"ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY is missing or empty: without it the database columns Mastodon 4.3+ encrypts",
		"OTP_SECRET is missing or empty: without it two-factor"} {
		if !strings.Contains(notes, s) {
			t.Errorf("notes %q lack %q", notes, s)
		}
	}
}

func TestDumpEnvNotParsed(t *testing.T) {
	env := filepath.Join(t.TempDir(), EnvFile)
	mustWrite(t, env, "SECRET_KEY_BASE=\"never-closed-secret\n", 0o600)
	info, _ := dumpTree(t, env)
	notes := strings.Join(info.Notes, "\n")
	if !strings.Contains(notes, "not read as a dotenv file (line 1: unterminated quote)") || strings.Contains(notes, "never-closed") {
		t.Errorf("notes: %q", notes)
	}
}

func TestDumpNotAbsolute(t *testing.T) {
	for _, entry := range []string{"etc/nginx", "/etc/../etc", "/", ""} {
		if _, err := Dump(context.Background(), entry, io.Discard); err == nil || !strings.Contains(err.Error(), "not a clean absolute path") {
			t.Errorf("Dump(%q): %v", entry, err)
		}
	}
}

func TestDumpMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	_, err := Dump(context.Background(), missing, io.Discard)
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "filesdump: back up "+missing) {
		t.Errorf("missing entry: %v", err)
	}
}

// TestDumpGrows reads a file whose stat size (0) is not its length, as a
// file being appended to while it is read.
func TestDumpGrows(t *testing.T) {
	_, err := Dump(context.Background(), "/proc/self/status", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "/proc/self/status grew beyond 0 bytes while it was read") {
		t.Errorf("growing file: %v", err)
	}
}

func TestDumpSymlinkEntry(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "real"), "x", 0o644)
	if err := os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	info, data := dumpTree(t, filepath.Join(dir, "link"))
	h, err := tar.NewReader(bytes.NewReader(data)).Next()
	if err != nil || h.Typeflag != tar.TypeSymlink || h.Linkname != filepath.Join(dir, "real") {
		t.Fatalf("entry that is a symlink: %+v, %v", h, err)
	}
	if info.FileCount != 0 || !strings.Contains(strings.Join(info.Notes, ""), "is a symlink: stored as the link") {
		t.Errorf("info %+v", info)
	}
}

func TestDumpCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Dump(ctx, tree(t, t.TempDir()), io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestDumpUnreadable: files the running user cannot read fail the job
// once the whole tree was walked, naming each and the fix. Root reads
// everything, so as root the dump runs in a child as nobody.
func TestDumpUnreadable(t *testing.T) {
	if entry := os.Getenv("FILESDUMP_CHILD_ENTRY"); entry != "" {
		_, err := Dump(context.Background(), entry, io.Discard)
		os.Stdout.WriteString("CHILD: " + errString(err) + "\n")
		return
	}
	dir := openDir(t)
	root := filepath.Join(dir, "conf")
	mustWrite(t, filepath.Join(root, "a.key"), "secret", 0o000)
	mustWrite(t, filepath.Join(root, "ok.conf"), "ok", 0o644)
	mustWrite(t, filepath.Join(root, "z", "b.key"), "secret", 0o000)
	mustMkdir(t, filepath.Join(root, "private"), 0o700)
	mustWrite(t, filepath.Join(root, "private", "c"), "c", 0o600)
	mustWrite(t, filepath.Join(root, "q", "listed"), "d", 0o644)
	mustMkdir(t, filepath.Join(root, "q"), 0o744) // names readable, not searchable
	if os.Geteuid() == 0 {
		mustMkdir(t, filepath.Join(root, "z"), 0o755)
		mustMkdir(t, root, 0o755)
	}
	got := dumpAsUser(t, dir, root)
	for _, s := range []string{"filesdump: back up " + root + ": cannot read " + root + "/a.key, " + root + "/private/, " + root + "/q/listed, " + root + "/z/b.key as uid ",
		"the service user needs read access: give its group read (chmod -R g+rX) or an ACL: setfacl -R -m u:"} {
		if !strings.Contains(got, s) {
			t.Errorf("unreadable files:\n got %s\nwant %s", got, s)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// openDir is a temporary directory every user may enter.
func openDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "filesdump-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// dumpAsUser runs Dump of entry as this user, or as nobody (uid 65534)
// in a copy of the test binary put in dir when running as root, and
// returns its error's text.
func dumpAsUser(t *testing.T, dir, entry string) string {
	if os.Geteuid() != 0 {
		_, err := Dump(context.Background(), entry, io.Discard)
		return errString(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "filesdump.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, bin, string(data), 0o755)
	cmd := exec.Command(bin, "-test.run=^TestDumpUnreadable$")
	cmd.Env = append(os.Environ(), "FILESDUMP_CHILD_ENTRY="+entry)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	_, line, _ := strings.Cut(string(out), "CHILD: ")
	line, _, _ = strings.Cut(line, "\n")
	return line
}

func TestDumpTooMany(t *testing.T) {
	_, err := dumpAtMost(context.Background(), tree(t, t.TempDir()), io.Discard, 3)
	if err == nil || !strings.Contains(err.Error(), "more than 3 files: a files entry is for configuration, not data") {
		t.Errorf("too many files: %v", err)
	}
}
