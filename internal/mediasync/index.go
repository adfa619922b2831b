package mediasync

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"

	"mbackup/internal/storage"
)

// indexHeader is the first line of every index. A later format changes it.
const indexHeader = "mbackup-media-index 1"

// IndexKey returns the key of the index of a mirror under prefix: the
// prefix without its trailing slash, plus ".index.zst" ("media/" gives
// "media.index.zst"). It sits outside the prefix, so listing the mirror
// never sees it.
func IndexKey(prefix string) string {
	return strings.TrimSuffix(prefix, "/") + ".index.zst"
}

// formatLine renders one index record: the quoted key, the source size and
// the quoted source ETag, separated by tabs. Quoting keeps tabs, newlines
// and invalid UTF-8 in keys on one line.
func formatLine(e entry) string {
	return strconv.Quote(e.key) + "\t" + strconv.FormatInt(e.size, 10) + "\t" + strconv.Quote(e.etag) + "\n"
}

// parseLine is the inverse of formatLine.
func parseLine(line string) (entry, error) {
	f := strings.Split(line, "\t")
	if len(f) != 3 {
		return entry{}, errors.New("want 3 tab-separated fields")
	}
	key, err := strconv.Unquote(f[0])
	if err != nil {
		return entry{}, fmt.Errorf("key: %w", err)
	}
	size, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || size < 0 {
		return entry{}, fmt.Errorf("size %q", f[1])
	}
	etag, err := strconv.Unquote(f[2])
	if err != nil {
		return entry{}, fmt.Errorf("etag: %w", err)
	}
	return entry{key: key, size: size, etag: etag}, nil
}

// openIndex streams the index at key, decompressing as it reads: memory is
// one line and the decoder's window, whatever the number of records. A
// missing index is an empty stream. close releases the download.
func openIndex(ctx context.Context, st storage.Store, key string) (s *stream, close func(), err error) {
	s, close, _, err = readIndex(ctx, st, key)
	return s, close, err
}

// readIndex is openIndex, and says whether the index exists.
func readIndex(ctx context.Context, st storage.Store, key string) (s *stream, close func(), exists bool, err error) {
	rc, err := st.Get(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return emptyStream("index"), func() {}, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("read index %s: %w", key, err)
	}
	dec, err := zstd.NewReader(rc, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxIndexWindow))
	if err != nil {
		rc.Close()
		return nil, nil, false, fmt.Errorf("read index %s: %w", key, err)
	}
	close = func() { dec.Close(); rc.Close() }
	sc := bufio.NewScanner(dec)
	sc.Buffer(make([]byte, 0, 16<<10), 1<<20)
	line := 0
	bad := func(err error) error {
		return fmt.Errorf("read index %s line %d: %w (delete it to rebuild it from sizes)", key, line, err)
	}
	s = &stream{name: "index", next: func() (entry, bool, error) {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return entry{}, false, bad(err)
			}
			if line == 0 {
				return entry{}, false, bad(errors.New("empty"))
			}
			return entry{}, false, nil
		}
		line++
		if line == 1 {
			if sc.Text() != indexHeader {
				return entry{}, false, bad(fmt.Errorf("header %q, want %q", sc.Text(), indexHeader))
			}
			if !sc.Scan() {
				if err := sc.Err(); err != nil {
					return entry{}, false, bad(err)
				}
				return entry{}, false, nil
			}
			line++
		}
		e, err := parseLine(sc.Text())
		if err != nil {
			return entry{}, false, bad(err)
		}
		return e, true, nil
	}}
	return s, close, true, nil
}

// maxIndexWindow bounds the decoder's window: indexes are written with
// indexWindow (1 MiB before), so a larger one is not an index of ours.
const maxIndexWindow = 8 << 20

// indexWriter streams a new index into the store while the run goes on.
// Nothing is visible until commit succeeds; abort leaves the old index.
type indexWriter struct {
	key    string
	pw     *io.PipeWriter
	enc    *zstd.Encoder
	buf    *bufio.Writer
	cancel context.CancelFunc
	done   chan error
}

// newIndexWriter starts the Put of the index at key. A nil st gives a
// writer that discards everything (a dry run).
func newIndexWriter(ctx context.Context, st storage.Store, key string) (*indexWriter, error) {
	w := &indexWriter{key: key}
	if st == nil {
		w.buf = bufio.NewWriter(io.Discard)
		return w, nil
	}
	ctx, w.cancel = context.WithCancel(ctx)
	pr, pw := io.Pipe()
	w.pw, w.done = pw, make(chan error, 1)
	go func() {
		_, err := st.Put(ctx, key, pr)
		// Unblocks a writer whose upload has already failed.
		pr.CloseWithError(cmp.Or(err, io.ErrClosedPipe))
		w.done <- err
	}()
	// The window bounds the encoder's history (and the decoder's of the
	// next run): an index of records a few dozen bytes long gains little
	// from more. Concurrency 1: one block at a time, no goroutines.
	enc, err := zstd.NewWriter(pw, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(indexWindow),
		zstd.WithLowerEncoderMem(true))
	if err != nil {
		w.abort(err)
		return nil, err
	}
	w.enc, w.buf = enc, bufio.NewWriterSize(enc, 16<<10)
	if _, err := w.buf.WriteString(indexHeader + "\n"); err != nil {
		return nil, err
	}
	return w, nil
}

// indexWindow is the zstd window of the index.
const indexWindow = 512 << 10

// add appends one record; records must come in ascending key order.
func (w *indexWriter) add(e entry) error {
	if _, err := w.buf.WriteString(formatLine(e)); err != nil {
		return fmt.Errorf("write index %s: %w", w.key, err)
	}
	return nil
}

// commit finishes the index and waits for the store to accept it.
func (w *indexWriter) commit() error {
	if w.pw == nil {
		return nil
	}
	err := w.buf.Flush()
	if err == nil {
		err = w.enc.Close()
	}
	if err != nil {
		w.abort(err)
		return fmt.Errorf("write index %s: %w", w.key, err)
	}
	w.pw.Close()
	err = <-w.done
	w.cancel()
	w.pw = nil
	if err != nil {
		return fmt.Errorf("write index %s: %w", w.key, err)
	}
	return nil
}

// abort drops the new index: the upload's context is cancelled before the
// pipe is closed, so the store commits nothing.
func (w *indexWriter) abort(cause error) {
	if w.pw == nil {
		return
	}
	w.cancel()
	w.pw.CloseWithError(cause)
	<-w.done
	if w.enc != nil {
		w.enc.Close()
	}
	w.pw = nil
}

// MirroredCount is the number of objects the index of the mirror under
// prefix records: the mirror's size as of its last complete run, against
// which a delete limit given as a share is taken. It is 0 without an index.
func MirroredCount(ctx context.Context, st storage.Store, prefix string) (int64, error) {
	s, done, err := openIndex(ctx, st, IndexKey(prefix))
	if err != nil {
		return 0, err
	}
	defer done()
	var n int64
	for {
		if err := s.advance(); err != nil {
			return n, err
		}
		if !s.ok {
			return n, nil
		}
		n++
	}
}
