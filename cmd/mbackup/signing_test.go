package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"

	"mbackup/internal/snapshot"
	"mbackup/internal/sshsig"
	"mbackup/internal/stream"
	"mbackup/internal/testenv"
)

// forgeries are what someone who can write to the store, but does not
// hold the backup host's signing key, can do to a snapshot's files.
var forgeries = []struct {
	name  string
	forge func(t *testing.T, snap string, m *snapshot.Manifest)
	want  string // in mbackup's refusal
}{{
	name: "manifest changed, signature kept",
	forge: func(t *testing.T, snap string, m *snapshot.Manifest) {
		p := filepath.Join(snap, "manifest.json")
		b, _ := os.ReadFile(p)
		os.WriteFile(p, bytes.Replace(b, []byte(m.Artifacts[0].StoredSHA256), []byte(strings.Repeat("0", 64)), 1), 0o644)
	},
	want: "the content was changed after signing",
}, {
	name: "signature removed",
	forge: func(t *testing.T, snap string, m *snapshot.Manifest) {
		os.Remove(filepath.Join(snap, "manifest.json.sig"))
	},
	want: "not signed",
}, {
	name: "re-signed by another key",
	forge: func(t *testing.T, snap string, m *snapshot.Manifest) {
		priv, _, _ := sshsig.GenerateKey("forger")
		s, _ := sshsig.ParsePrivateKey(priv)
		b, _ := os.ReadFile(filepath.Join(snap, "manifest.json"))
		os.WriteFile(filepath.Join(snap, "manifest.json.sig"), s.Sign(b), 0o644)
	},
	want: "not by the pinned signer",
}}

// TestSignedSnapshots: a snapshot is signed; restore and verify accept it,
// refuse every forgery before anything is restored, and take it only with
// --insecure-skip-signature.
func TestSignedSnapshots(t *testing.T) {
	dir, cfg := setup(t, "  databases: [signed_db]\n  globals: false\n")
	pg.Exec(t, "postgres", "DROP DATABASE IF EXISTS signed_db; CREATE DATABASE signed_db")
	pg.Exec(t, "signed_db", "CREATE TABLE t (n int); INSERT INTO t SELECT generate_series(1, 10)")
	if code, out, errOut := mbackup(t, "--config", cfg, "backup", "--only", "postgres"); code != exitOK {
		t.Fatalf("backup exited %d:\n%s%s", code, out, errOut)
	}
	m := onlySnapshot(t, cfg)
	if !strings.HasPrefix(m.Signer, "SHA256:") {
		t.Fatalf("manifest signer %q", m.Signer)
	}
	snap := filepath.Join(dir, "store", "snapshots", m.ID)
	restoreArgs := []string{"--config", cfg, "restore", m.ID, "--yes", "-i", filepath.Join(dir, "id.txt"),
		"--pg-host", pg.Host, "--pg-port", strconv.Itoa(pg.Port), "--pg-user", pg.User, "--staging", t.TempDir()}
	t.Setenv("PGPASSWORD", pg.Password)
	if code, out, errOut := mbackup(t, "--config", cfg, "verify", m.ID); code != exitOK || !strings.Contains(out, "signature, stored size") {
		t.Fatalf("verify of a signed snapshot exited %d:\n%s%s", code, out, errOut)
	}
	orig := copyDir(t, snap)
	for _, f := range forgeries {
		t.Run(f.name, func(t *testing.T) {
			restoreDir(t, orig, snap)
			f.forge(t, snap, m)
			pg.Exec(t, "postgres", "DROP DATABASE IF EXISTS signed_db")
			code, out, errOut := mbackup(t, restoreArgs...)
			if code == exitOK || !strings.Contains(errOut, f.want) {
				t.Errorf("restore exited %d, want a refusal with %q:\n%s%s", code, f.want, out, errOut)
			}
			if pg.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'signed_db'") != "0" {
				t.Error("the refused restore created the database")
			}
			code, out, errOut = mbackup(t, "--config", cfg, "verify", m.ID)
			if code == exitOK || !strings.Contains(out, f.want) {
				t.Errorf("verify exited %d, want a refusal with %q:\n%s%s", code, f.want, out, errOut)
			}
		})
	}
	// The snapshot as a forger left it (re-signed, hashes intact), restored
	// on purpose: --insecure-skip-signature says what it skipped.
	code, out, errOut := mbackup(t, append(restoreArgs, "--insecure-skip-signature")...)
	if code != exitOK || !strings.Contains(errOut, "signature not checked") {
		t.Errorf("restore --insecure-skip-signature exited %d:\n%s%s", code, out, errOut)
	}
	// A pin given on the command line wins over the configuration's.
	restoreDir(t, orig, snap)
	other, _, _ := sshsig.GenerateKey("other")
	s, _ := sshsig.ParsePrivateKey(other)
	if code, out, _ := mbackup(t, "--config", cfg, "verify", m.ID, "--signer", s.AuthorizedKey("")); code == exitOK || !strings.Contains(out, "not by the pinned signer") {
		t.Errorf("verify --signer OTHER exited %d:\n%s", code, out)
	}
}

// TestReadmeStepZeroRefuses runs step 0 of the README's restore by hand
// (ssh-keygen -Y verify and the hash check) on a good snapshot and on
// forged ones: only the good one passes.
func TestReadmeStepZeroRefuses(t *testing.T) {
	block := readmeRestoreBlock(t)
	_, step0, _ := strings.Cut(block, "# 0.")
	step0, _, _ = strings.Cut(step0, "\n# 1.")
	head, _, _ := strings.Cut(block, "# 0.")
	dir, cfg := setup(t, "  databases: [signed_db]\n  globals: false\n")
	if code, out, errOut := mbackup(t, "--config", cfg, "backup", "--only", "redis"); code != exitOK {
		t.Fatalf("backup exited %d:\n%s%s", code, out, errOut)
	}
	m := onlySnapshot(t, cfg)
	snap := filepath.Join(dir, "store", "snapshots", m.ID)
	script := readmeWithSettings(t, head, map[string]string{
		"S": snap, "ID": filepath.Join(dir, "id.txt"), "SIGNER": configSigner(t, cfg), "REDIS_DIR": t.TempDir(), "FILES_TO": t.TempDir(),
	}) + "\n# 0." + step0 + "\necho STEP0-PASSED\n"
	runStep0 := func() (string, error) {
		cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", script)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := runStep0(); err != nil || !strings.Contains(out, "STEP0-PASSED") {
		t.Fatalf("step 0 on a good snapshot: %v\n%s", err, out)
	}
	orig := copyDir(t, snap)
	cases := append(forgeries[:len(forgeries):len(forgeries)], struct {
		name  string
		forge func(t *testing.T, snap string, m *snapshot.Manifest)
		want  string
	}{name: "artifact replaced", forge: func(t *testing.T, snap string, m *snapshot.Manifest) {
		os.WriteFile(filepath.Join(snap, "redis", "main.rdb.zst.age"), []byte("forged"), 0o644)
	}})
	for _, f := range cases {
		restoreDir(t, orig, snap)
		f.forge(t, snap, m)
		if out, err := runStep0(); err == nil || strings.Contains(out, "STEP0-PASSED") {
			t.Errorf("%s: step 0 passed:\n%s", f.name, out)
		}
	}
}

// copyDir reads every file under dir, by relative path.
func copyDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files[rel], _ = os.ReadFile(p)
		}
		return nil
	})
	return files
}

// restoreDir writes files back into dir as copyDir read them.
func restoreDir(t *testing.T, files map[string][]byte, dir string) {
	t.Helper()
	for rel, b := range files {
		if err := os.WriteFile(filepath.Join(dir, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSignerMismatch: a signing key that is not the pinned signer would
// make backups that restores refuse: backup does not start, check says ❌.
func TestSignerMismatch(t *testing.T) {
	_, cfg := setup(t, "")
	b, _ := os.ReadFile(cfg)
	other, _, _ := sshsig.GenerateKey("other")
	s, _ := sshsig.ParsePrivateKey(other)
	b = regexp.MustCompile(`(?m)^  signer: ".*"$`).ReplaceAll(b, []byte(`  signer: "`+s.AuthorizedKey("")+`"`))
	os.WriteFile(cfg, b, 0o600)
	code, out, errOut := mbackup(t, "--config", cfg, "backup", "--only", "redis")
	if code != exitUsage || !strings.Contains(errOut, "but encryption.signer pins") {
		t.Errorf("backup with a mismatched signer exited %d:\n%s%s", code, out, errOut)
	}
	code, out, _ = mbackup(t, "--config", cfg, "check")
	if code != exitError || !strings.Contains(out, "❌ signing") {
		t.Errorf("check exited %d:\n%s", code, out)
	}
	// Without a signing key: a warning, and the snapshot is unsigned.
	b = regexp.MustCompile(`(?m)^  (signing_key_file|signer): .*\n`).ReplaceAll(b, nil)
	os.WriteFile(cfg, b, 0o600)
	code, out, errOut = mbackup(t, "--config", cfg, "backup", "--only", "redis")
	if code != exitOK || !strings.Contains(errOut, "this snapshot is not signed") {
		t.Errorf("backup without a signing key exited %d:\n%s%s", code, out, errOut)
	}
	if _, out, _ = mbackup(t, "--config", cfg, "check"); !strings.Contains(out, "⚠️  signing") {
		t.Errorf("check without a signing key:\n%s", out)
	}
	code, out, errOut = mbackup(t, "--config", cfg, "verify")
	if code != exitUsage || !strings.Contains(errOut, "no signer pinned") {
		t.Errorf("verify with nothing pinned exited %d:\n%s%s", code, out, errOut)
	}
}

// TestDaemonVerifyRefusesUnsigned: the daemon's scheduled verify checks
// the newest snapshot's signature; one whose signature was removed is a
// failed run on /metrics and on Slack.
func TestDaemonVerifyRefusesUnsigned(t *testing.T) {
	slack := newSlackSink(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	dir, cfg := setup(t, "")
	if code, out, errOut := mbackup(t, "--config", cfg, "backup", "--only", "redis"); code != exitOK {
		t.Fatalf("backup exited %d:\n%s%s", code, out, errOut)
	}
	m := onlySnapshot(t, cfg)
	if err := os.Remove(filepath.Join(dir, "store", "snapshots", m.ID, "manifest.json.sig")); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(cfg)
	text = bytes.Replace(text, []byte("redis:\n"), []byte(fmt.Sprintf("schedule:\n  backup: \"0 3 * * *\"\n  verify: \"@every 1s\"\n"+
		"metrics:\n  listen: %q\nnotify:\n  slack:\n    webhook_url: %s/hook\nredis:\n", listen, slack.srv.URL)), 1)
	os.WriteFile(cfg, text, 0o600)
	waitVerifyFailure(t, startDaemon(t, cfg), slack, listen, "not signed")
}

// TestVerifyScansSQL: verify -i feeds the SQL of the globals to the same
// scanner as restore: a forged artifact carrying \! (its manifest
// updated, the signature check skipped) fails verify, naming the line.
func TestVerifyScansSQL(t *testing.T) {
	dir, cfg := setup(t, "  databases: [postgres]\n")
	if code, out, errOut := mbackup(t, "--config", cfg, "backup", "--only", "postgres"); code != exitOK {
		t.Fatalf("backup exited %d:\n%s%s", code, out, errOut)
	}
	m := onlySnapshot(t, cfg)
	idFile := filepath.Join(dir, "id.txt")
	if code, out, _ := mbackup(t, "--config", cfg, "verify", "-i", idFile); code != exitOK {
		t.Fatalf("verify -i of the real snapshot exited %d:\n%s", code, out)
	}
	b, _ := os.ReadFile(idFile)
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var sealed bytes.Buffer
	w, err := stream.Seal(&sealed, ids[0].(*age.X25519Identity).Recipient())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "CREATE ROLE x;\n\\! touch /tmp/mbackup-forged-marker\n")
	w.Close()
	sums := w.Sums()
	for i, a := range m.Artifacts {
		if a.Name == "globals" {
			os.WriteFile(filepath.Join(dir, "store", a.Key), sealed.Bytes(), 0o644)
			m.Artifacts[i].Sums = sums
		}
	}
	mj, _ := json.MarshalIndent(m, "", "  ")
	os.WriteFile(filepath.Join(dir, "store", snapshot.ManifestKey(m.ID)), mj, 0o644)
	code, out, _ := mbackup(t, "--config", cfg, "verify", "-i", idFile, "--insecure-skip-signature")
	if code != exitError || !strings.Contains(out, "globals.sql.zst.age: line 2") {
		t.Errorf("verify -i of a forged globals exited %d:\n%s", code, out)
	}
}
