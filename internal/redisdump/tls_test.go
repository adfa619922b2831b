package redisdump

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for localhost and its key.
func writeCert(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for path, block := range map[string]*pem.Block{cert: {Type: "CERTIFICATE", Bytes: der}, key: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key
}

// TestDumpTLS dumps over rediss:// with the server's CA given in the URL,
// and fails against a CA that did not sign the server's certificate.
func TestDumpTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	s := startServerTLS(t, "tls-cert-file "+cert+"\ntls-key-file "+key+"\ntls-auth-clients no", nil,
		[]string{"--tls", "--cacert", cert, "--sni", "localhost"})
	s.do(t, "SET", "tls:key", "over tls")
	port := s.addr[strings.LastIndexByte(s.addr, ':')+1:]
	var out bytes.Buffer
	info, err := Dump(context.Background(), Config{Name: "tls", URL: "rediss://localhost:" + port + "/0?cacert=" + cert, Password: s.password}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info.Command, "--tls --cacert "+cert+" --sni localhost") || !bytes.Contains(out.Bytes(), []byte("over tls")) {
		t.Errorf("Info %+v, %d bytes", info, out.Len())
	}
	other, _ := writeCert(t, t.TempDir())
	_, err = Dump(context.Background(), Config{Name: "tls", URL: "rediss://localhost:" + port + "?cacert=" + other, Password: s.password}, &out)
	if err == nil || strings.Contains(err.Error(), s.password) {
		t.Fatalf("Dump with another CA = %v", err)
	}
	t.Log(err)
}
