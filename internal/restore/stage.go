package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"filippo.io/age"

	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/stream"
)

// preflight checks, before anything is written anywhere, that every
// artifact of steps is stored with the manifest's size and opens with ids.
// It reads only each artifact's age header.
func preflight(ctx context.Context, s storage.Store, steps []Step, ids []age.Identity) error {
	var errs []error
	for _, st := range steps {
		if err := openable(ctx, s, st.Artifact, ids); err != nil {
			errs = append(errs, fmt.Errorf("restore: %s: %w", st.Artifact.Key, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w\nnothing was restored", errors.Join(errs...))
	}
	return nil
}

func openable(ctx context.Context, s storage.Store, a snapshot.Artifact, ids []age.Identity) error {
	o, err := s.Stat(ctx, a.Key)
	if errors.Is(err, os.ErrNotExist) {
		return errors.New("missing from the store")
	} else if err != nil {
		return err
	}
	if o.Size != a.StoredBytes {
		return fmt.Errorf("stored size %d, the manifest says %d: truncated or replaced", o.Size, a.StoredBytes)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops a download that read ahead
	rc, err := s.Get(ctx, a.Key)
	if err != nil {
		return err
	}
	defer rc.Close()
	r, err := stream.Unseal(rc, ids...)
	if err != nil {
		return wrongKey(err)
	}
	r.Close()
	return nil
}

// wrongKey explains age's "no identity matched any of the recipients".
func wrongKey(err error) error {
	var nm *age.NoIdentityMatchError
	if errors.As(err, &nm) {
		return fmt.Errorf("%w: the identity given is not one this snapshot was encrypted to "+
			"(its manifest lists the recipients' fingerprints)", err)
	}
	return err
}

// stageMargin is free space kept beyond a staged file.
const stageMargin = 64 << 20

// stage writes the plaintext of a into dir and checks its sums against the
// manifest. On any error the file is removed.
func stage(ctx context.Context, s storage.Store, a snapshot.Artifact, ids []age.Identity, dir string) (path string, err error) {
	if err := checkFree(dir, a.PlainBytes+stageMargin); err != nil {
		return "", err
	}
	rc, err := s.Get(ctx, a.Key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	r, err := stream.Unseal(rc, ids...)
	if err != nil {
		return "", wrongKey(err)
	}
	defer r.Close()
	path = filepath.Join(dir, strings.ReplaceAll(a.Component+"-"+a.Name, "/", "_")+plainExt(a.Key))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, compare(r.Sums(), a.Sums)
}

// compare checks what was read against the manifest, stored side first.
func compare(got, want stream.Sums) error {
	switch {
	case got.StoredBytes != want.StoredBytes:
		return fmt.Errorf("read %d stored bytes, the manifest says %d", got.StoredBytes, want.StoredBytes)
	case got.StoredSHA256 != want.StoredSHA256:
		return errors.New("stored sha256 differs from the manifest's: the artifact was altered in the store")
	case got.PlainBytes != want.PlainBytes:
		return fmt.Errorf("decrypted to %d bytes, the manifest says %d", got.PlainBytes, want.PlainBytes)
	case got.PlainSHA256 != want.PlainSHA256:
		return errors.New("plaintext sha256 differs from the manifest's")
	}
	return nil
}

// plainExt is the extension of the dump inside a key: ".dump" of
// "x.dump.zst.age".
func plainExt(key string) string {
	return filepath.Ext(strings.TrimSuffix(key, ".zst.age"))
}

// checkFree fails when dir's file system has less than need bytes free.
func checkFree(dir string, need int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return err
	}
	if free := int64(st.Bavail) * st.Bsize; free < need {
		return fmt.Errorf("the staging directory %s has %d MiB free, staging this artifact needs %d MiB: "+
			"give another directory with --staging", filepath.Dir(dir), free>>20, need>>20)
	}
	return nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
