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

	"mbackup/internal/artifact"
	"mbackup/internal/dump/metacmd"
	"mbackup/internal/engines"
	"mbackup/internal/human"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/stream"
)

// preflight checks, before anything is written anywhere, every artifact
// of steps (see verify) and every target (see checkTarget), and reports
// every problem it finds, not only the first.
func preflight(ctx context.Context, steps []Step, t Targets, opt Options) error {
	var errs []error
	for _, st := range steps {
		progress(opt, "%s: checking %s", st.Name(), human.Bytes(st.Artifact.StoredBytes))
		if err := verify(ctx, opt.Store, st.Artifact, opt.Identities); err != nil {
			errs = append(errs, fmt.Errorf("restore: %s: %w", st.Artifact.Key, err))
		}
	}
	for _, st := range steps {
		if err := checkTarget(ctx, st, t, opt.Clean); err != nil {
			errs = append(errs, fmt.Errorf("restore: %s: %w", st.Name(), err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w\nnothing was restored", errors.Join(errs...))
	}
	return nil
}

// verify reads a in full, streamed: it must be stored with the manifest's
// size and sha256 and open with ids. An SQL artifact (the globals, a MySQL
// dump) is decrypted and decompressed as well, its plaintext size and
// sha256 checked and its text scanned for client meta-commands (see
// metacmd), which a forged artifact could carry.
func verify(ctx context.Context, s storage.Store, a snapshot.Artifact, ids []age.Identity) error {
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
	rb := snapshot.ReadBack{Identities: ids, Scan: Scanner}
	return wrongKey(sqlErr(rb.Artifact(ctx, s, a)))
}

// sqlErr says what a refusal of the scanner means.
func sqlErr(err error) error {
	var mc *metacmd.Error
	if errors.As(err, &mc) {
		return fmt.Errorf("the SQL holds %w: refused, as a forged or altered artifact (no client command is ever run from a backup)", err)
	}
	return err
}

// Scanner returns the meta-command scanner for a's SQL, nil when a is not
// SQL fed to a client (for snapshot.ReadBack too): its engine's.
func Scanner(a snapshot.Artifact) io.WriteCloser {
	e, ok := engines.Find(artifact.Component(a.Component))
	if !ok {
		return nil
	}
	return e.Scanner(a.Ref())
}

// checkTarget refuses, before anything is written, a step whose target
// would refuse it at its turn: a database that exists and is not empty
// (without clean), a Redis directory in use or holding appendonly files.
func checkTarget(ctx context.Context, st Step, t Targets, clean bool) error {
	target := t.of(artifact.Component(st.Artifact.Component))
	if target == nil {
		return errors.New("no target given")
	}
	return target.Check(ctx, st.Artifact.Ref(), st.Database, clean)
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
	path = filepath.Join(dir, strings.ReplaceAll(a.Component+"-"+a.Name, "/", "_")+artifact.KindOf(a.Key).Ext())
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
	return path, snapshot.CompareSums(r.Sums(), a.Sums)
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
