package stream

import (
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

// DecoderMaxWindow bounds the memory a hostile or corrupt stream can make
// the zstd decoder allocate.
const DecoderMaxWindow = 128 << 20

// Reader decrypts and decompresses a sealed stream, hashing both sides.
type Reader struct {
	plain, stored *counter
	zr            *zstd.Decoder
}

// Unseal returns a Reader of the plaintext sealed in src. A wrong identity
// fails here; a truncated or altered stream fails on Read, never silently.
func Unseal(src io.Reader, identities ...age.Identity) (*Reader, error) {
	r := &Reader{plain: newCounter(), stored: newCounter()}
	ar, err := age.Decrypt(io.TeeReader(src, r.stored), identities...)
	if err != nil {
		return nil, fmt.Errorf("stream: unseal: %w", err)
	}
	zr, err := zstd.NewReader(ar,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(DecoderMaxWindow))
	if err != nil {
		return nil, fmt.Errorf("stream: unseal: %w", err)
	}
	r.zr = zr
	return r, nil
}

// Read returns plaintext.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.zr.Read(p)
	r.plain.Write(p[:n])
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("stream: read: %w", err)
	}
	return n, err
}

// Close releases the decoder.
func (r *Reader) Close() error {
	r.zr.Close()
	return nil
}

// Sums returns the counts and digests of what was read so far; after Read
// returned io.EOF they describe the whole stream.
func (r *Reader) Sums() Sums {
	return Sums{
		PlainBytes: r.plain.n, PlainSHA256: r.plain.sum(),
		StoredBytes: r.stored.n, StoredSHA256: r.stored.sum(),
	}
}
