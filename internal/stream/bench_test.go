package stream

import (
	"bytes"
	"io"
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
