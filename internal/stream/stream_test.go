package stream

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// sqlish returns n bytes of compressible text with random numbers in it.
func sqlish(n int) []byte {
	var b bytes.Buffer
	r := rand.New(rand.NewPCG(1, 2))
	for b.Len() < n {
		b.WriteString("INSERT INTO statuses VALUES (")
		b.WriteString(strings.Repeat("x", r.IntN(40)))
		b.WriteString(");\n")
	}
	return b.Bytes()[:n]
}

func seal(t *testing.T, plain []byte, rs ...age.Recipient) ([]byte, Sums) {
	t.Helper()
	var dst bytes.Buffer
	w, err := Seal(&dst, rs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, bytes.NewReader(plain)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dst.Bytes(), w.Sums()
}

func hexsum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

var sizes = []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 3<<20 + 5}

func TestRoundTrip(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	for _, n := range sizes {
		plain := sqlish(n)
		sealed, sums := seal(t, plain, id.Recipient())
		want := Sums{int64(n), hexsum(plain), int64(len(sealed)), hexsum(sealed)}
		if sums != want {
			t.Errorf("size %d: Seal sums %+v, want %+v", n, sums, want)
		}
		r, err := Unseal(bytes.NewReader(sealed), id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		r.Close()
		if !bytes.Equal(got, plain) {
			t.Errorf("size %d: round trip differs", n)
		}
		if r.Sums() != want {
			t.Errorf("size %d: Unseal sums %+v, want %+v", n, r.Sums(), want)
		}
	}
}

func TestTwoRecipientsEitherDecrypts(t *testing.T) {
	a, _ := age.GenerateX25519Identity()
	b, _ := age.GenerateX25519Identity()
	sealed, _ := seal(t, []byte("break glass"), a.Recipient(), b.Recipient())
	for _, id := range []age.Identity{a, b} {
		r, err := Unseal(bytes.NewReader(sealed), id)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(r); string(got) != "break glass" {
			t.Errorf("got %q", got)
		}
	}
}

func TestDamagedStreams(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	sealed, _ := seal(t, sqlish(200_000), id.Recipient())
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)/2] ^= 1
	cases := map[string]struct {
		data []byte
		id   age.Identity
	}{
		"wrong identity":      {sealed, other},
		"truncated at half":   {sealed[:len(sealed)/2], id},
		"last byte missing":   {sealed[:len(sealed)-1], id},
		"flipped bit":         {flipped, id},
		"empty":               {nil, id},
		"not an age file":     {[]byte("-- PostgreSQL database dump\n"), id},
		"trailing data added": {append(bytes.Clone(sealed), 0), id},
	}
	for name, c := range cases {
		r, err := Unseal(bytes.NewReader(c.data), c.id)
		if err == nil {
			_, err = io.ReadAll(r)
			r.Close()
		}
		if err == nil {
			t.Errorf("%s: read back without error", name)
		} else if !strings.HasPrefix(err.Error(), "stream: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
}

func TestNoRecipients(t *testing.T) {
	if _, err := Seal(io.Discard); err == nil || !strings.Contains(err.Error(), "no recipients") {
		t.Fatalf("Seal without recipients: %v", err)
	}
}

// TestStockTools decrypts and decompresses with Debian's age and zstd, the
// way the README's restore by hand does.
func TestStockTools(t *testing.T) {
	ageBin := lookTool(t, "age", "apt-get install -y age")
	zstdBin := lookTool(t, "zstd", "apt-get install -y zstd")
	id, _ := age.GenerateX25519Identity()
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(keyFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range sizes {
		plain := sqlish(n)
		sealed, _ := seal(t, plain, id.Recipient())
		cmd := exec.Command("sh", "-c", `"$AGE" -d -i "$KEY" | "$ZSTD" -d -q -c`)
		cmd.Env = append(os.Environ(), "AGE="+ageBin, "KEY="+keyFile, "ZSTD="+zstdBin)
		cmd.Stdin = bytes.NewReader(sealed)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("size %d: age -d | zstd -d: %v: %s", n, err, errb.String())
		}
		if !bytes.Equal(out.Bytes(), plain) {
			t.Errorf("size %d: stock tools read back %d bytes that differ", n, out.Len())
		}
	}
}

func lookTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install it with %q", name, install)
	}
	return p
}
