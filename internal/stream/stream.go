// Package stream is the pipeline every artifact goes through: zstd inside
// age, with the plaintext and the stored bytes counted and hashed on the way.
//
// Invariants: memory is bounded by zstd's window and age's 64 KiB chunks,
// never by the stream's length; the output is a plain age file whose
// plaintext is a plain zstd frame, so the stock tools read it back:
//
//	age -d -i key.txt < x.zst.age | zstd -d > x
//
// Close is the commit of a stream: it writes zstd's last block and age's
// final chunk. A producer that failed must never be followed by Close
// (it would seal a truncated dump as a valid file); abandon the Writer and
// cancel the upload that consumes it instead.
package stream

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

// EncoderConcurrency is the number of goroutines zstd compresses one stream
// with. One leaves the other core to the producer on a small backup host.
// Alone, Seal is faster with two (BenchmarkSeal), but two hand every 128 KiB
// block to two new goroutines; with pg_dump (and a local server) busy beside
// it on two cores, bench/backup.sh measured the whole backup 6-7% faster
// and 10% cheaper in CPU with one. One goroutine seals about 1 GB/s of that
// pg_dump output, well above the 350 MB/s pg_dump produces. The compressed
// bytes are the same either way.
const EncoderConcurrency = 1

// EncoderLevel is zstd's level. SpeedFastest, by BenchmarkLevel on one
// goroutine (CPU seconds per pass, compressed size):
//
//	pg_dump -Fc -Z0 of              SpeedFastest       SpeedDefault       zstd -3 (CLI)
//	pgbench -s 5 (48 MiB)           0.04 s, 0.85 %     0.06 s, 0.78 %     0.11 s, 0.92 %
//	Mastodon-shaped (302 MiB)       0.78 s, 14.1 %     1.2-1.8 s, 14.5 %  1.4 s, 14.7 %
//
// It costs half the CPU of SpeedDefault or less for the same size (smaller
// on the Mastodon-shaped statuses and accounts), and compresses as well as
// the zstd -3 an admin would pipe pg_dump into. The decoder reads any
// level, so older backups restore as before.
const EncoderLevel = zstd.SpeedFastest

// Sums describes a stream: plaintext (what the producer wrote) and stored
// (what reached the destination) sizes and SHA-256 digests, in hex.
type Sums struct {
	PlainBytes   int64  `json:"plain_bytes"`
	PlainSHA256  string `json:"plain_sha256"`
	StoredBytes  int64  `json:"stored_bytes"`
	StoredSHA256 string `json:"stored_sha256"`
}

// counter hashes and counts the bytes that pass through it.
type counter struct {
	n int64
	h hash.Hash
}

func newCounter() *counter { return &counter{h: sha256.New()} }

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

func (c *counter) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// Writer compresses, encrypts and hashes what is written to it.
type Writer struct {
	plain, stored *counter
	zw            *zstd.Encoder
	aw            io.WriteCloser
	closed        bool
}

// Seal returns a Writer that writes the zstd-compressed, age-encrypted form
// of its input to dst. At least one recipient is required.
func Seal(dst io.Writer, recipients ...age.Recipient) (*Writer, error) {
	if len(recipients) == 0 {
		return nil, errors.New("stream: seal: no recipients")
	}
	w := &Writer{plain: newCounter(), stored: newCounter()}
	aw, err := age.Encrypt(io.MultiWriter(dst, w.stored), recipients...)
	if err != nil {
		return nil, fmt.Errorf("stream: seal: %w", err)
	}
	zw, err := zstd.NewWriter(aw,
		zstd.WithEncoderLevel(EncoderLevel),
		zstd.WithEncoderConcurrency(EncoderConcurrency))
	if err != nil {
		return nil, fmt.Errorf("stream: seal: %w", err)
	}
	w.aw, w.zw = aw, zw
	return w, nil
}

// Write compresses and encrypts p.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("stream: write after close")
	}
	n, err := w.zw.Write(p)
	w.plain.Write(p[:n])
	if err != nil {
		return n, fmt.Errorf("stream: write: %w", err)
	}
	return n, nil
}

// ReadFrom copies r into the Writer with a 1 MiB buffer, so large producer
// writes reach zstd in large blocks.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	return io.CopyBuffer(writerOnly{w}, r, buf)
}

type writerOnly struct{ io.Writer }

// Close finishes the zstd frame and the age file. It does not close dst.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.zw.Close(); err != nil {
		return fmt.Errorf("stream: close: %w", err)
	}
	if err := w.aw.Close(); err != nil {
		return fmt.Errorf("stream: close: %w", err)
	}
	return nil
}

// Sums returns the counts and digests; the stored ones are final only after
// Close.
func (w *Writer) Sums() Sums {
	return Sums{
		PlainBytes: w.plain.n, PlainSHA256: w.plain.sum(),
		StoredBytes: w.stored.n, StoredSHA256: w.stored.sum(),
	}
}
