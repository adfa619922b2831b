package s3

import (
	"errors"
	"io"
)

// Chunk sizes of a partBuf: the first chunk starts small and doubles up to
// maxChunk, later chunks are maxChunk each.
const (
	firstChunk = 32 << 10
	maxChunk   = 1 << 20
)

// partBuf holds up to limit bytes of a stream in chunks allocated as the
// data arrives, so that a small object costs about its own size and a
// whole part costs the part size plus less than one chunk, never a copy
// of the part.
type partBuf struct {
	chunks [][]byte
	n      int // bytes held
	limit  int
}

func newPartBuf(limit int64) *partBuf { return &partBuf{limit: int(limit)} }

// fill replaces the content with the next bytes of r, until limit bytes
// are held (nil) or r ends (io.EOF, with what was read before it). Any
// other error of r is returned as it is.
func (b *partBuf) fill(r io.Reader) error {
	b.n = 0
	for b.n < b.limit {
		c, off := b.room()
		m, err := r.Read(c[off:])
		b.n += m
		if err != nil {
			return err
		}
	}
	return nil
}

// room returns the chunk where byte b.n goes and its offset in it,
// growing the buffer when it is full.
func (b *partBuf) room() ([]byte, int) {
	off := b.n
	for i, c := range b.chunks {
		if off < len(c) {
			return b.chunks[i], off
		}
		off -= len(c)
	}
	switch {
	case len(b.chunks) == 0:
		b.chunks = append(b.chunks, make([]byte, min(firstChunk, b.limit)))
	case len(b.chunks) == 1 && len(b.chunks[0]) < maxChunk:
		old := len(b.chunks[0]) // all held: off is 0
		grown := make([]byte, min(2*old, maxChunk, b.limit))
		copy(grown, b.chunks[0])
		b.chunks[0] = grown
		return grown, old
	default:
		b.chunks = append(b.chunks, make([]byte, min(maxChunk, b.limit-b.capacity())))
	}
	return b.chunks[len(b.chunks)-1], 0
}

func (b *partBuf) capacity() int {
	n := 0
	for _, c := range b.chunks {
		n += len(c)
	}
	return n
}

// reader reads the bytes held; it can seek, so minio-go may retry.
func (b *partBuf) reader() *chunkReader { return &chunkReader{b: b} }

// chunkReader reads a partBuf from pos.
type chunkReader struct {
	b   *partBuf
	pos int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.pos >= r.b.n {
		return 0, io.EOF
	}
	off := r.pos
	for _, c := range r.b.chunks {
		if off < len(c) {
			end := min(len(c), off+r.b.n-r.pos)
			m := copy(p, c[off:end])
			r.pos += m
			return m, nil
		}
		off -= len(c)
	}
	return 0, io.EOF
}

var errSeek = errors.New("s3: part buffer: seek out of range")

func (r *chunkReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = int64(r.pos) + offset
	case io.SeekEnd:
		abs = int64(r.b.n) + offset
	}
	if abs < 0 || abs > int64(r.b.n) {
		return 0, errSeek
	}
	r.pos = int(abs)
	return abs, nil
}
