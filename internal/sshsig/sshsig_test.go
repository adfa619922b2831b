package sshsig

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// keyFiles writes a new key pair into dir: the private key (0600) and an
// allowed_signers file naming its public half "mbackup".
func keyFiles(t *testing.T, dir string) (signer *Signer, keyFile, allowed string) {
	t.Helper()
	priv, pub, err := GenerateKey("mbackup@test")
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(dir, "signing.key")
	allowed = filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(keyFile, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(allowed, []byte("mbackup "+pub+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if signer, err = ParsePrivateKey(priv); err != nil {
		t.Fatal(err)
	}
	return signer, keyFile, allowed
}

func sshKeygen(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatal("ssh-keygen is missing: apt-get install openssh-client")
	}
	cmd := exec.Command("ssh-keygen", args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestStockToolVerifies: ssh-keygen -Y verify accepts what Sign writes, and
// refuses it for a changed message.
func TestStockToolVerifies(t *testing.T) {
	dir := t.TempDir()
	s, keyFile, allowed := keyFiles(t, dir)
	msg := `{"format": 1, "id": "20261202T120000Z-abcdef"}` + "\n"
	sigFile := filepath.Join(dir, "manifest.json.sig")
	os.WriteFile(sigFile, s.Sign([]byte(msg)), 0o644)
	if out, err := sshKeygen(t, msg, "-Y", "verify", "-f", allowed, "-I", "mbackup", "-n", Namespace, "-s", sigFile); err != nil {
		t.Fatalf("ssh-keygen -Y verify: %v\n%s", err, out)
	}
	if out, err := sshKeygen(t, msg+" ", "-Y", "verify", "-f", allowed, "-I", "mbackup", "-n", Namespace, "-s", sigFile); err == nil {
		t.Fatalf("ssh-keygen accepted a changed message:\n%s", out)
	}
	// The key file is one ssh-keygen reads: its public half is ours.
	out, err := sshKeygen(t, "", "-y", "-f", keyFile)
	if err != nil {
		t.Fatalf("ssh-keygen -y: %v\n%s", err, out)
	}
	if got, want := strings.Fields(out)[1], strings.Fields(s.AuthorizedKey(""))[1]; got != want {
		t.Errorf("ssh-keygen -y prints %s, want %s", got, want)
	}
}

// TestVerifiesStockSignature: Verify accepts what ssh-keygen -Y sign makes
// with the same key, and refuses it in another namespace.
func TestVerifiesStockSignature(t *testing.T) {
	dir := t.TempDir()
	s, keyFile, _ := keyFiles(t, dir)
	msg := filepath.Join(dir, "manifest.json")
	os.WriteFile(msg, []byte("hello\n"), 0o644)
	for _, ns := range []string{Namespace, "file"} {
		os.Remove(msg + ".sig")
		if out, err := sshKeygen(t, "", "-Y", "sign", "-f", keyFile, "-n", ns, msg); err != nil {
			t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
		}
		sig, _ := os.ReadFile(msg + ".sig")
		err := Verify(s.PublicKey(), []byte("hello\n"), sig)
		if ns == Namespace && err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
		if ns != Namespace && (err == nil || !strings.Contains(err.Error(), `namespace "file"`)) {
			t.Errorf("namespace %s: err = %v", ns, err)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	s, _, _ := keyFiles(t, t.TempDir())
	other, _, _ := keyFiles(t, t.TempDir())
	msg := []byte("manifest")
	sig := s.Sign(msg)
	cases := []struct {
		name string
		pub  *Signer
		msg  []byte
		sig  []byte
		want string
	}{
		{"changed message", s, []byte("manifest!"), sig, "changed after signing"},
		{"another signer", other, msg, sig, "not by the pinned signer"},
		{"forged by another key", s, msg, other.Sign(msg), "not by the pinned signer"},
		{"empty", s, msg, nil, "not an armored SSH signature"},
		{"garbage armor", s, msg, []byte(armorBegin + "\n!!!\n" + armorEnd), "armor"},
		{"truncated", s, msg, sig[:len(sig)/2], "not an armored"},
	}
	for _, c := range cases {
		err := Verify(c.pub.PublicKey(), c.msg, c.sig)
		if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

func TestParsePublicKey(t *testing.T) {
	s, _, _ := keyFiles(t, t.TempDir())
	line := s.AuthorizedKey("mbackup@host")
	for _, in := range []string{line, "  " + line + "\n", "mbackup " + line} {
		pub, err := ParsePublicKey(in)
		if err != nil || Fingerprint(pub) != Fingerprint(s.PublicKey()) {
			t.Errorf("ParsePublicKey(%q) = %v", in, err)
		}
	}
	if _, err := ParsePublicKey("age1xyz"); err == nil {
		t.Error("an age recipient taken for a signing key")
	}
}

// TestPublicKeyArg: the key line itself, or a file holding it (an
// allowed_signers file too); a missing file is an error naming it.
func TestPublicKeyArg(t *testing.T) {
	dir := t.TempDir()
	s, _, allowed := keyFiles(t, dir)
	line := filepath.Join(dir, "signer.pub")
	os.WriteFile(line, []byte(s.AuthorizedKey("mbackup@host")+"\n"), 0o600)
	for _, arg := range []string{s.AuthorizedKey(""), line, allowed} {
		pub, err := PublicKeyArg(arg)
		if err != nil || Fingerprint(pub) != Fingerprint(s.PublicKey()) {
			t.Errorf("PublicKeyArg(%q) = %v", arg, err)
		}
	}
	missing := filepath.Join(dir, "nothing.pub")
	if _, err := PublicKeyArg(missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("a missing file: %v", err)
	}
	if _, err := PublicKeyArg("ssh-ed25519 AAAAnot-base64"); err == nil {
		t.Error("a broken key line was taken")
	}
}

func TestParsePrivateKeyRefuses(t *testing.T) {
	dir := t.TempDir()
	if out, err := sshKeygen(t, "", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", filepath.Join(dir, "rsa")); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if out, err := sshKeygen(t, "", "-q", "-t", "ed25519", "-N", "secret", "-f", filepath.Join(dir, "enc")); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	for name, want := range map[string]string{"rsa": "not Ed25519", "enc": "passphrase", "rsa.pub": "not an OpenSSH private key"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if _, err := ParsePrivateKey(b); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", name, err, want)
		}
	}
	// A key made by ssh-keygen itself is accepted.
	if out, err := sshKeygen(t, "", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "stock")); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "stock"))
	if _, err := ParsePrivateKey(b); err != nil {
		t.Errorf("a key from ssh-keygen: %v", err)
	}
}

// FuzzVerify: no input makes Verify panic or accept a signature that is
// not the signer's.
func FuzzVerify(f *testing.F) {
	priv, _, _ := GenerateKey("")
	s, _ := ParsePrivateKey(priv)
	f.Add([]byte("m"), s.Sign([]byte("m")))
	f.Add([]byte(""), []byte(armorBegin+"\nU1NIU0lH\n"+armorEnd))
	f.Fuzz(func(t *testing.T, msg, sig []byte) {
		if Verify(s.PublicKey(), msg, sig) == nil && string(msg) != "m" {
			t.Fatalf("accepted a signature of %q", msg)
		}
	})
}
