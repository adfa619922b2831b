package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"filippo.io/age"

	"mbackup/internal/dump"
	"mbackup/internal/sshsig"
	"mbackup/internal/storage"
)

// Job produces one artifact. Produce writes the plaintext to w and returns
// only after its producer exited; any error (a non-zero exit, a kill, a
// failed write) fails the artifact and nothing of it is committed.
type Job struct {
	Component string
	Name      string
	Ext       string // artifact.Kind.Ext: ".dump", ".sql", ".rdb"
	Produce   func(ctx context.Context, w io.Writer) (dump.Info, error)
	// Err, when set, is why the job could not even be prepared (its server
	// is unreachable, say): it is recorded as failed and nothing runs.
	Err error
}

// Taker takes snapshots into a store.
type Taker struct {
	Store        storage.Store
	Recipients   []age.Recipient
	RecipientIDs []string // text form of Recipients, for the manifest's fingerprints
	Host         string
	Tool         string // "mbackup v1.2.3"
	Concurrency  int    // jobs at once; 0 means 2
	Now          func() time.Time
	Log          *slog.Logger // one line per finished job; nil logs nothing
	// StallTimeout kills a producer that writes nothing for this long
	// while none of its writes is blocked on the store; 0 never does.
	StallTimeout time.Duration
	// Signer, when set, signs the manifest (see Authenticate); nil
	// commits an unsigned snapshot, which restore refuses by default.
	Signer Signer
	// Review, when set, is called with the filled manifest after every
	// job ended and before it is signed and committed, so what it adds
	// (Shrunk, Notes) is covered by the signature. It must not fail the
	// snapshot: it records its own problems in the manifest's Notes.
	Review func(m *Manifest)
	// Explain, when set, turns a job's failure into the reason the
	// manifest, the log and the messages give, the cause first, then the
	// fix (explain.Job); nil keeps the error's own text.
	Explain func(component, name string, err error) string
}

// ErrPartial is returned, with the committed manifest, when some jobs failed.
var ErrPartial = errors.New("snapshot: partial")

// Take runs jobs and commits a manifest. It returns the manifest and nil when
// every job succeeded, the manifest and an error wrapping ErrPartial when some
// failed, and no manifest when none succeeded or ctx was cancelled, or when
// the artifacts' keys are not distinct and inside snapshots/<id>/ (see
// CheckKeys): then nothing is committed and the uploaded artifacts are
// garbage for prune.
func (t *Taker) Take(ctx context.Context, jobs []Job) (*Manifest, error) {
	now := t.now()
	m := &Manifest{Format: FormatVersion, ID: NewID(now), Tool: t.Tool, Host: t.Host, Started: now.UTC()}
	for _, r := range t.RecipientIDs {
		m.Recipients = append(m.Recipients, Fingerprint(r))
	}
	if t.Signer != nil {
		m.Signer = sshsig.Fingerprint(t.Signer.PublicKey())
	}
	results := t.runAll(ctx, m.ID, jobs)
	for i, r := range results {
		if r.err != nil {
			m.Failed = append(m.Failed, Failure{jobs[i].Component, jobs[i].Name, t.reason(jobs[i], r.err)})
			continue
		}
		m.Artifacts = append(m.Artifacts, r.art)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("snapshot: take %s: interrupted, nothing committed: %w", m.ID, err)
	}
	if len(m.Artifacts) == 0 {
		// The causes first: the last line only says what became of the snapshot.
		return nil, fmt.Errorf("%w\nsnapshot %s: every job failed, nothing committed", failures(m.Failed), m.ID)
	}
	m.Status = StatusComplete
	if len(m.Failed) > 0 {
		m.Status = StatusPartial
	}
	m.Finished = t.now().UTC()
	if t.Review != nil {
		t.Review(m)
	}
	if err := CheckKeys(m); err != nil {
		return nil, fmt.Errorf("snapshot: take %s: nothing committed: %w", m.ID, err)
	}
	if err := t.commit(ctx, m); err != nil {
		return nil, err
	}
	if m.Status == StatusPartial {
		return m, fmt.Errorf("%w\n%w: %s committed without them", failures(m.Failed), ErrPartial, m.ID)
	}
	return m, nil
}

func failures(fs []Failure) error {
	var errs []error
	for _, f := range fs {
		errs = append(errs, fmt.Errorf("%s %s: %s", f.Component, f.Name, f.Reason))
	}
	return errors.Join(errs...)
}

// reason is why job j failed with err, as the manifest records it.
func (t *Taker) reason(j Job, err error) string {
	if t.Explain == nil {
		return err.Error()
	}
	return t.Explain(j.Component, j.Name, err)
}

func (t *Taker) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

type result struct {
	art Artifact
	err error
}

// runAll runs the jobs with bounded concurrency, in order of submission.
func (t *Taker) runAll(ctx context.Context, id string, jobs []Job) []result {
	n := t.Concurrency
	if n <= 0 {
		n = 2
	}
	sem := make(chan struct{}, n)
	results := make([]result, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if j.Err != nil {
				results[i].err = j.Err
				t.logResult(j, results[i])
				return
			}
			results[i].art, results[i].err = t.upload(ctx, id, j)
			t.logResult(j, results[i])
		})
	}
	wg.Wait()
	return results
}

// logResult logs one finished job, so a run without a terminal still says
// what it did as it goes.
func (t *Taker) logResult(j Job, r result) {
	if t.Log == nil {
		return
	}
	if r.err != nil {
		attrs := []any{"component", j.Component, "name", j.Name, "reason", t.reason(j, r.err)}
		if t.Explain != nil {
			attrs = append(attrs, "err", r.err) // the whole chain, for the one who debugs
		}
		t.Log.Warn("artifact failed", attrs...)
		return
	}
	t.Log.Info("artifact stored", "key", r.art.Key, "plain_bytes", r.art.PlainBytes,
		"stored_bytes", r.art.StoredBytes, "seconds", r.art.Finished.Sub(r.art.Started).Seconds())
}

// commit writes the signature, then the manifest: the last write of a
// snapshot.
func (t *Taker) commit(ctx context.Context, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("snapshot: commit %s: %w", m.ID, err)
	}
	b = append(b, '\n')
	if t.Signer != nil {
		if _, err := t.Store.Put(ctx, SignatureKey(m.ID), bytes.NewReader(t.Signer.Sign(b))); err != nil {
			return fmt.Errorf("snapshot: commit %s: signature: %w", m.ID, err)
		}
	}
	if _, err := t.Store.Put(ctx, ManifestKey(m.ID), bytes.NewReader(b)); err != nil {
		return fmt.Errorf("snapshot: commit %s: %w", m.ID, err)
	}
	return nil
}
