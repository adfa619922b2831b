package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFilesBackup: check names each files entry (a missing key of
// .env.production is ⚠️, a missing entry ❌); backup --only files stores
// one artifact per entry, partial for the missing one; verify -i reads
// them back; no secret value reaches the output or the manifest.
func TestFilesBackup(t *testing.T) {
	dir, cfg := setup(t, "")
	env := filepath.Join(dir, "live", ".env.production")
	os.MkdirAll(filepath.Dir(env), 0o700)
	os.WriteFile(env, []byte("SECRET_KEY_BASE=kb-f00d\nOTP_SECRET=otp-beef\n"), 0o600)
	conf := filepath.Join(dir, "nginx")
	os.MkdirAll(filepath.Join(conf, "sites-available"), 0o755)
	os.WriteFile(filepath.Join(conf, "sites-available", "mastodon"), []byte("server {}\n"), 0o644)
	missing := filepath.Join(dir, "letsencrypt")
	text, _ := os.ReadFile(cfg)
	text = append(text, "files:\n  - "+env+"\n  - "+conf+"\n  - "+missing+"\n"...)
	os.WriteFile(cfg, text, 0o600)

	code, out, errOut := mbackup(t, "--config", cfg, "check")
	t.Logf("check:\n%s%s", out, errOut)
	for _, want := range []string{"✅ files " + env + ": 1 files", "⚠️  files " + env + ": ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY is missing or empty",
		"✅ files " + conf + ": 1 files", "❌ files " + missing + ": missing — create it, or remove it from files:"} {
		if !strings.Contains(out, want) {
			t.Errorf("check lacks %q", want)
		}
	}
	if code != exitError {
		t.Errorf("check with a missing entry exited %d", code)
	}

	code, out, errOut = mbackup(t, "--config", cfg, "backup", "--only", "files")
	t.Logf("backup:\n%s%s", out, errOut)
	if !strings.Contains(out, "partial") || !strings.Contains(out, "files    "+env) || !strings.Contains(errOut, "lstat "+missing+": no such file or directory") {
		t.Errorf("backup with a missing entry exited %d", code)
	}
	os.MkdirAll(missing, 0o700)
	os.WriteFile(filepath.Join(missing, "privkey.pem"), []byte("key"), 0o600)
	if code, out, errOut = mbackup(t, "--config", cfg, "backup", "--only", "files"); code != exitOK {
		t.Fatalf("backup exited %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut = mbackup(t, "--config", cfg, "verify", "-i", filepath.Join(dir, "id.txt"))
	if code != exitOK || !strings.Contains(out, "3 artifacts") {
		t.Errorf("verify exited %d:\n%s%s", code, out, errOut)
	}
	manifests, _ := filepath.Glob(filepath.Join(dir, "store", "snapshots", "*", "manifest.json"))
	for _, m := range manifests {
		b, _ := os.ReadFile(m)
		out += string(b)
	}
	if len(manifests) != 2 || !strings.Contains(out, `"OTP_SECRET"`) {
		t.Errorf("%d manifests, keys not recorded", len(manifests))
	}
	for _, secret := range []string{"kb-f00d", "otp-beef"} {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("a secret value was printed or recorded: %s", secret)
		}
	}
}
