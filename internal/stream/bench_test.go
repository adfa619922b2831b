package stream

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"
)

// BenchmarkSeal measures zstd+age+sha256 throughput on 32 MiB of SQL-like text.
func BenchmarkSeal(b *testing.B) {
	id, _ := age.GenerateX25519Identity()
	plain := sqlish(32 << 20)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		w, err := Seal(io.Discard, id.Recipient())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.ReadFrom(bytes.NewReader(plain)); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(w.Sums().StoredBytes)/float64(len(plain)), "ratio")
	}
}

// BenchmarkUnseal measures age+zstd and both SHA-256 sums on the way back,
// as a restore stages a dump: 128 MiB of SQL-like text into a file.
func BenchmarkUnseal(b *testing.B) {
	id, _ := age.GenerateX25519Identity()
	plain := sqlish(128 << 20)
	var sealed bytes.Buffer
	w, err := Seal(&sealed, id.Recipient())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.ReadFrom(bytes.NewReader(plain)); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(b.TempDir(), "staged"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		r, err := Unseal(bytes.NewReader(sealed.Bytes()), id)
		if err != nil {
			b.Fatal(err)
		}
		f.Seek(0, io.SeekStart)
		if _, err := io.Copy(f, r); err != nil {
			b.Fatal(err)
		}
		if r.Sums().PlainBytes != int64(len(plain)) {
			b.Fatal("short")
		}
		r.Close()
	}
}
