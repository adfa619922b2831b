package filesdump

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"

	"mbackup/internal/artifact"
	"mbackup/internal/dump"
)

// ScanInfo returns a writer that reads the plaintext of a files artifact
// as a tar and checks it against info, the manifest's record: every entry
// at or below the artifact's path, every file and symlink listed, every
// file with its size and SHA-256, none missing. Its Close returns the
// first problem, and a Write after it was found returns it too (see
// engine.InfoScanner). The tar is read by a goroutine that ends at Close,
// at the first problem, or when the writer is dropped without a Close.
func (Engine) ScanInfo(a artifact.Ref, info dump.Info) io.WriteCloser {
	pr, pw := io.Pipe()
	s := &scanner{pw: pw, done: make(chan error, 1)}
	go func() {
		err := checkTar(pr, a.Name, info)
		if err == nil {
			_, err = io.Copy(io.Discard, pr) // the tar's padding after its end
		}
		pr.CloseWithError(err)
		s.done <- err
	}()
	runtime.AddCleanup(s, func(pw *io.PipeWriter) { pw.CloseWithError(errDropped) }, pw)
	return s
}

var errDropped = errors.New("the scanner was dropped without a Close")

type scanner struct {
	pw   *io.PipeWriter
	done chan error
}

func (s *scanner) Write(p []byte) (int, error) {
	n, err := s.pw.Write(p)
	if err != nil {
		err = fmt.Errorf("filesdump: check the tar: %w", err)
	}
	return n, err
}

func (s *scanner) Close() error {
	s.pw.Close()
	if err := <-s.done; err != nil {
		return fmt.Errorf("filesdump: check the tar: %w", err)
	}
	return nil
}

// checkTar reads a tar of entry from r and checks it against info.
func checkTar(r io.Reader, entry string, info dump.Info) error {
	w, err := newWant(entry, info)
	if err != nil {
		return err
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return w.done()
		} else if err != nil {
			return err
		}
		p, err := w.member(h)
		if err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			sum := sha256.New()
			if _, err := io.Copy(sum, tr); err != nil {
				return err
			}
			if hex.EncodeToString(sum.Sum(nil)) != w.files[p].SHA256 {
				return fmt.Errorf("%s: %w", p, errSum)
			}
		}
	}
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}
