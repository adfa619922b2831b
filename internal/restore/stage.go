package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"filippo.io/age"

	"mbackup/internal/artifact"
	"mbackup/internal/dump/metacmd"
	"mbackup/internal/engine"
	"mbackup/internal/engines"
	"mbackup/internal/human"
	"mbackup/internal/snapshot"
	"mbackup/internal/stall"
	"mbackup/internal/storage"
	"mbackup/internal/stream"
)

// TargetError is a target's refusal of a step in the preflight.
type TargetError struct {
	Step Step
	Err  error
}

func (e *TargetError) Error() string { return "restore: " + e.Step.Name() + ": " + e.Err.Error() }
func (e *TargetError) Unwrap() error { return e.Err }

// preflight checks, before anything is written anywhere, every artifact
// of steps (see verify), the staging space (see checkStaging) and every
// target (see checkTarget), and reports every problem it finds, not only
// the first. It returns the targets' notes, each after its step's name.
func preflight(ctx context.Context, steps []Step, t Targets, opt Options) ([]string, error) {
	var errs []error
	sql := make([][]byte, len(steps))
	for i, st := range steps {
		progress(opt, "%s: checking %s", st.Name(), human.Bytes(st.Artifact.StoredBytes))
		_, wants := t.of(artifact.Component(st.Artifact.Component)).(engine.Preflighter)
		wants = wants && st.Artifact.Ref().Kind == artifact.SQL // only SQL is kept as Pending.SQL
		m := opt.meter(st, PhaseCheck)
		var err error
		sql[i], err = verify(ctx, m.store(opt.Store, st.Artifact.StoredBytes), st.Artifact, opt.Identities, wants)
		m.finish()
		if err != nil {
			errs = append(errs, fmt.Errorf("restore: %s: %w", st.Artifact.Key, err))
		}
	}
	if err := checkStaging(steps, opt.StagingDir); err != nil {
		errs = append(errs, err)
	}
	var notes []string
	for i, st := range steps {
		n, err := checkTarget(ctx, steps[:i], st, t, opt.Clean, sql[i])
		for _, line := range n {
			notes = append(notes, st.Name()+": "+line)
		}
		if err != nil {
			errs = append(errs, &TargetError{Step: st, Err: err})
		}
	}
	if len(errs) > 0 {
		return notes, fmt.Errorf("%w\nnothing was restored", errors.Join(errs...))
	}
	return notes, nil
}

// verify reads a in full, streamed: it must be stored with the manifest's
// size and sha256 and open with ids. An SQL artifact (the globals, a MySQL
// dump) is decrypted and decompressed as well, its plaintext size and
// sha256 checked and its text scanned for client meta-commands (see
// metacmd), which a forged artifact could carry. With keep, it returns
// that plaintext when it checked out and is at most engine.MaxPendingSQL
// bytes.
func verify(ctx context.Context, s storage.Store, a snapshot.Artifact, ids []age.Identity, keep bool) ([]byte, error) {
	o, err := s.Stat(ctx, a.Key)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errors.New("missing from the store")
	} else if err != nil {
		return nil, err
	}
	if o.Size != a.StoredBytes {
		return nil, fmt.Errorf("stored size %d, the manifest says %d: truncated or replaced", o.Size, a.StoredBytes)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops a download that read ahead
	var kept *keeper
	scan := func(a snapshot.Artifact) io.WriteCloser {
		w := Scanner(a)
		if w != nil && keep {
			kept = &keeper{WriteCloser: w}
			return kept
		}
		return w
	}
	rb := snapshot.ReadBack{Identities: ids, Scan: scan}
	if err := wrongKey(sqlErr(rb.Artifact(ctx, s, a))); err != nil {
		return nil, err
	}
	if kept == nil || kept.over {
		return nil, nil
	}
	return kept.buf.Bytes(), nil
}

// keeper passes the plaintext on to a scanner and keeps the first
// engine.MaxPendingSQL bytes of it.
type keeper struct {
	io.WriteCloser
	buf  bytes.Buffer
	over bool
}

func (k *keeper) Write(p []byte) (int, error) {
	if !k.over && k.buf.Len()+len(p) <= engine.MaxPendingSQL {
		k.buf.Write(p)
	} else if !k.over {
		k.over = true
		k.buf = bytes.Buffer{}
	}
	return k.WriteCloser.Write(p)
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
	return engine.ScannerOf(e, a.Ref(), a.Info)
}

// checkTarget refuses, before anything is written, a step whose target
// would refuse it at its turn: a database that exists and is not empty
// (without clean), a Redis directory in use or holding appendonly files,
// and, for a target that checks more (engine.Preflighter), a server
// older than the dump's, say. before are the steps that run before st;
// sql is st's plaintext, if verify kept it.
func checkTarget(ctx context.Context, before []Step, st Step, t Targets, clean bool, sql []byte) ([]string, error) {
	target := t.of(artifact.Component(st.Artifact.Component))
	if target == nil {
		return nil, errors.New("no target given")
	}
	if p, ok := target.(engine.Preflighter); ok {
		var refs []artifact.Ref
		for _, b := range before {
			refs = append(refs, b.Artifact.Ref())
		}
		return p.Preflight(ctx, engine.Pending{Artifact: st.Artifact.Ref(), Database: st.Database, Clean: clean,
			Before: refs, Info: st.Artifact.Info, SQL: sql})
	}
	return nil, target.Check(ctx, st.Artifact.Ref(), st.Database, clean)
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
// manifest; m is told the stored bytes read. On any error the file is
// removed.
func stage(ctx context.Context, s storage.Store, a snapshot.Artifact, ids []age.Identity, dir string, m *meter) (path string, err error) {
	if err := checkFree(filepath.Dir(dir), a); err != nil {
		return "", err
	}
	rc, err := s.Get(ctx, a.Key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	r, err := stream.Unseal(engine.ProgressReader(rc, a.StoredBytes, m.reporter()), ids...)
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
	// Never more than the manifest says, so a lying one cannot fill the disk.
	n, err := io.Copy(f, io.LimitReader(stall.ContextReader(ctx, r), a.PlainBytes+1))
	if err == nil && n > a.PlainBytes {
		err = fmt.Errorf("the plaintext is longer than the %d bytes the manifest records: altered; staging stopped", a.PlainBytes)
	}
	if err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, snapshot.CompareSums(r.Sums(), a.Sums)
}

// checkStaging fails when the staging directory (os.TempDir() for "")
// cannot hold the plaintext of the largest artifact of steps, which are
// staged one at a time, and a margin.
func checkStaging(steps []Step, dir string) error {
	if dir == "" {
		dir = os.TempDir()
	}
	var largest snapshot.Artifact
	for _, st := range steps {
		if st.Artifact.PlainBytes >= largest.PlainBytes {
			largest = st.Artifact
		}
	}
	if err := checkFree(dir, largest); err != nil {
		return fmt.Errorf("restore: staging: %w", err)
	}
	return nil
}

// checkFree fails when dir's file system cannot hold a's plaintext and
// stageMargin.
func checkFree(dir string, a snapshot.Artifact) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("the staging directory: %w: give an existing directory with --staging", err)
	}
	need := a.PlainBytes + stageMargin
	if a.PlainBytes < 0 || need < 0 {
		return fmt.Errorf("%s: the manifest records a plaintext of %d bytes: not a size", a.Component+"/"+a.Name, a.PlainBytes)
	}
	if free := int64(min(st.Bavail, math.MaxInt64/uint64(max(st.Bsize, 1)))) * st.Bsize; free < need {
		return fmt.Errorf("the staging directory %s has %s free; staging %s/%s needs %s (its plaintext, %s, and %s to spare): "+
			"free space there, or give a directory on a larger file system with --staging",
			dir, human.Bytes(free), a.Component, a.Name, human.Bytes(need), human.Bytes(a.PlainBytes), human.Bytes(stageMargin))
	}
	return nil
}
