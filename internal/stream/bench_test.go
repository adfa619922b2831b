package stream

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
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

// BenchmarkLevel compares zstd's levels, as Seal runs it (one goroutine),
// on a real dump named by MBACKUP_BENCH_DUMP (skipped without it):
//
//	pg_dump -Fc -Z0 db > /tmp/db.dump
//	MBACKUP_BENCH_DUMP=/tmp/db.dump go test -run '^$' -bench Level ./internal/stream
func BenchmarkLevel(b *testing.B) {
	path := os.Getenv("MBACKUP_BENCH_DUMP")
	if path == "" {
		b.Skip("MBACKUP_BENCH_DUMP names no dump")
	}
	plain, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, level := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression} {
		b.Run(level.String(), func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				var out byteCount
				zw, err := zstd.NewWriter(&out, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(EncoderConcurrency))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := zw.ReadFrom(bytes.NewReader(plain)); err != nil {
					b.Fatal(err)
				}
				if err := zw.Close(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(out)/float64(len(plain)), "ratio")
			}
		})
	}
}

// byteCount counts what is written to it.
type byteCount int64

func (c *byteCount) Write(p []byte) (int, error) {
	*c += byteCount(len(p))
	return len(p), nil
}

// BenchmarkSHA256 is the cost of one of the stream's two hashes.
func BenchmarkSHA256(b *testing.B) {
	plain := sqlish(32 << 20)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		c := newCounter()
		c.Write(plain)
		c.sum()
	}
}
