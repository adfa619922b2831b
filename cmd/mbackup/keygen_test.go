package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

func TestKeygen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.txt")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"keygen", "-o", path}, nil, &out, &errb); code != 0 {
		t.Fatalf("keygen exited %d: %s", code, errb.String())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("identity file mode %v, want 0600", fi.Mode().Perm())
	}
	f, _ := os.Open(path)
	ids, err := age.ParseIdentities(f)
	f.Close()
	if err != nil || len(ids) != 1 {
		t.Fatalf("identity file does not parse: %v", err)
	}
	rcpt := strings.TrimSpace(out.String())
	if got := ids[0].(*age.X25519Identity).Recipient().String(); got != rcpt {
		t.Errorf("printed recipient %q, identity's is %q", rcpt, got)
	}
	before, _ := os.ReadFile(path)
	errb.Reset()
	if code := run(context.Background(), []string{"keygen", "-o", path}, nil, &out, &errb); code != exitError {
		t.Errorf("second keygen -o exited %d, want %d", code, exitError)
	}
	if !strings.Contains(errb.String(), "refusing to overwrite") {
		t.Errorf("stderr %q does not explain the refusal", errb.String())
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the existing identity was changed")
	}
}

// TestKeygenInterchangeable encrypts with stock age to the printed recipient
// and decrypts with stock age and the written identity.
func TestKeygenInterchangeable(t *testing.T) {
	ageBin, err := exec.LookPath("age")
	if err != nil {
		t.Fatal("age not found: install it with \"apt-get install -y age\"")
	}
	dir := t.TempDir()
	var key, errb bytes.Buffer
	if code := run(context.Background(), []string{"keygen"}, nil, &key, &errb); code != 0 {
		t.Fatalf("keygen exited %d: %s", code, errb.String())
	}
	keyFile := filepath.Join(dir, "key.txt")
	os.WriteFile(keyFile, key.Bytes(), 0o600)
	rcpt := strings.TrimPrefix(strings.TrimSpace(errb.String()), "Public key: ")
	enc := exec.Command(ageBin, "-r", rcpt)
	enc.Stdin = strings.NewReader("hello from stock age")
	sealed, err := enc.Output()
	if err != nil {
		t.Fatalf("age -r %s: %v", rcpt, err)
	}
	dec := exec.Command(ageBin, "-d", "-i", keyFile)
	dec.Stdin = bytes.NewReader(sealed)
	plain, err := dec.Output()
	if err != nil || string(plain) != "hello from stock age" {
		t.Fatalf("age -d with the keygen identity: %q, %v", plain, err)
	}
}

// TestKeygenSigning: keygen --signing writes an OpenSSH key (0600, never
// overwritten) whose public half, as ssh-keygen -y prints it, is the line
// printed for encryption.signer; without -o it is a usage error.
func TestKeygenSigning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing.key")
	code, out, errOut := mbackup(t, "keygen", "--signing", "-o", path)
	if code != exitOK || !strings.Contains(errOut, "encryption.signer") {
		t.Fatalf("keygen --signing exited %d:\n%s%s", code, out, errOut)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signing key: %v %v", fi, err)
	}
	pub, err := exec.Command("ssh-keygen", "-y", "-f", path).Output()
	if err != nil {
		t.Fatalf("ssh-keygen -y: %v (apt-get install openssh-client)", err)
	}
	if strings.Fields(string(pub))[1] != strings.Fields(out)[1] {
		t.Errorf("printed %q, ssh-keygen -y says %q", out, pub)
	}
	if code, _, errOut := mbackup(t, "keygen", "--signing", "-o", path); code != exitError || !strings.Contains(errOut, "refusing to overwrite") {
		t.Errorf("a second keygen --signing exited %d: %s", code, errOut)
	}
	if code, _, _ := mbackup(t, "keygen", "--signing"); code != exitUsage {
		t.Errorf("keygen --signing without -o exited %d", code)
	}
}
