package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"mbackup/internal/dump"
	"mbackup/internal/storage"
	"mbackup/internal/storage/local"
	"mbackup/internal/stream"
)

func newTaker(t *testing.T) (*Taker, *age.X25519Identity) {
	t.Helper()
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	return &Taker{
		Store: s, Recipients: []age.Recipient{id.Recipient()},
		RecipientIDs: []string{id.Recipient().String()}, Host: "test", Tool: "mbackup test",
	}, id
}

// shell runs a real process whose stdout is the artifact, checking its exit
// status the way the dump packages do.
func shell(script string) func(context.Context, io.Writer) (dump.Info, error) {
	return func(ctx context.Context, w io.Writer) (dump.Info, error) {
		cmd := exec.CommandContext(ctx, "sh", "-c", script)
		cmd.Stdout = w
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return dump.Info{}, fmt.Errorf("sh: %w: %s", err, strings.TrimSpace(stderr.String()))
		}
		return dump.Info{Command: "sh -c " + script}, nil
	}
}

func read(t *testing.T, s storage.Store, key string, id age.Identity) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	r, err := stream.Unseal(rc, id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTakeComplete(t *testing.T) {
	tk, id := newTaker(t)
	jobs := []Job{
		{Component: "postgres", Name: "globals", Ext: ".sql", Produce: shell("echo CREATE ROLE mastodon")},
		{Component: "postgres", Name: "mastodon_production", Ext: ".dump", Produce: shell("head -c 3000000 /dev/urandom")},
		{Component: "redis", Name: "main", Ext: ".rdb", Produce: shell("printf REDIS0009")},
	}
	m, err := tk.Take(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != StatusComplete || len(m.Artifacts) != 3 || len(m.Failed) != 0 {
		t.Fatalf("manifest %+v", m)
	}
	if got := read(t, tk.Store, m.Artifacts[0].Key, id); string(got) != "CREATE ROLE mastodon\n" {
		t.Errorf("globals read back %q", got)
	}
	for _, a := range m.Artifacts {
		rc, _ := tk.Store.Get(context.Background(), a.Key)
		b, _ := io.ReadAll(rc)
		rc.Close()
		sum := sha256.Sum256(b)
		if int64(len(b)) != a.StoredBytes || hex.EncodeToString(sum[:]) != a.StoredSHA256 {
			t.Errorf("%s: stored %d bytes, manifest says %d with another sha256", a.Key, len(b), a.StoredBytes)
		}
	}
	if m.Artifacts[1].PlainBytes != 3000000 {
		t.Errorf("plain bytes %d", m.Artifacts[1].PlainBytes)
	}
	loaded, err := Load(context.Background(), tk.Store, m.ID)
	if err != nil || loaded.Artifacts[2].Key != "snapshots/"+m.ID+"/redis/main.rdb.zst.age" {
		t.Fatalf("Load: %+v, %v", loaded, err)
	}
	if loaded.Recipients[0] != Fingerprint(id.Recipient().String()) {
		t.Errorf("recipient fingerprint %q", loaded.Recipients[0])
	}
}

func TestTakePartial(t *testing.T) {
	tk, _ := newTaker(t)
	jobs := []Job{
		{Component: "postgres", Name: "ok", Ext: ".dump", Produce: shell("echo fine")},
		{Component: "postgres", Name: "killed", Ext: ".dump", Produce: shell("head -c 2000000 /dev/zero; echo dying >&2; kill -9 $$")},
		{Component: "redis", Name: "refused", Ext: ".rdb", Produce: shell("echo 'ERR unknown command SYNC' >&2; exit 1")},
		{Component: "mysql", Name: "server", Err: errors.New("connection refused")},
	}
	var logged bytes.Buffer
	tk.Log = slog.New(slog.NewTextHandler(&logged, nil))
	m, err := tk.Take(context.Background(), jobs)
	if !strings.Contains(logged.String(), "artifact stored") || strings.Count(logged.String(), "artifact failed") != 3 {
		t.Errorf("log:\n%s", logged.String())
	}
	if !errors.Is(err, ErrPartial) || m == nil {
		t.Fatalf("Take = %v, %v; want a partial manifest", m, err)
	}
	if m.Status != StatusPartial || len(m.Artifacts) != 1 || len(m.Failed) != 3 || m.Failed[2].Reason != "connection refused" {
		t.Fatalf("manifest %+v", m)
	}
	if !strings.Contains(m.Failed[0].Reason, "signal: killed") || !strings.Contains(m.Failed[1].Reason, "unknown command SYNC") {
		t.Errorf("reasons: %q", m.Failed)
	}
	for _, key := range []string{ArtifactKey(m.ID, "postgres", "killed", ".dump"), ArtifactKey(m.ID, "redis", "refused", ".rdb")} {
		if _, err := tk.Store.Stat(context.Background(), key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("failed artifact %s is stored: %v", key, err)
		}
	}
}

func TestTakeNothingCommitted(t *testing.T) {
	tk, _ := newTaker(t)
	_, err := tk.Take(context.Background(), []Job{{Component: "redis", Name: "x", Ext: ".rdb", Produce: shell("exit 3")}})
	if err == nil || !strings.Contains(err.Error(), "every job failed") {
		t.Fatalf("Take = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	jobs := []Job{{Component: "postgres", Name: "slow", Ext: ".dump", Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) {
		w.Write([]byte("begin"))
		cancel()
		return shell("sleep 5")(ctx, w)
	}}}
	if _, err := tk.Take(ctx, jobs); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Take = %v", err)
	}
	entries, err := List(context.Background(), tk.Store)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Status != StatusIncomplete {
			t.Errorf("%s listed as %s", e.ID, e.Status)
		}
	}
}

func TestConcurrencyBound(t *testing.T) {
	tk, _ := newTaker(t)
	tk.Concurrency = 2
	var now, peak atomic.Int32
	var jobs []Job
	for i := range 6 {
		jobs = append(jobs, Job{Component: "mysql", Name: fmt.Sprint(i), Ext: ".sql", Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) {
			n := now.Add(1)
			defer now.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(20 * time.Millisecond)
			_, err := w.Write([]byte("x"))
			return dump.Info{}, err
		}})
	}
	if _, err := tk.Take(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	if peak.Load() > 2 {
		t.Errorf("%d jobs ran at once, want at most 2", peak.Load())
	}
}

func TestList(t *testing.T) {
	tk, _ := newTaker(t)
	clock := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	tk.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); clock = clock.Add(time.Hour); return clock }
	ok := Job{Component: "redis", Name: "main", Ext: ".rdb", Produce: shell("echo ok")}
	bad := Job{Component: "redis", Name: "other", Ext: ".rdb", Produce: shell("exit 1")}
	first, _ := tk.Take(context.Background(), []Job{ok})
	second, _ := tk.Take(context.Background(), []Job{ok, bad})
	orphan := ArtifactKey(NewID(clock.Add(time.Hour)), "redis", "main", ".rdb")
	tk.Store.Put(context.Background(), orphan, strings.NewReader("leftover"))
	tk.Store.Put(context.Background(), "snapshots/not-an-id/x", strings.NewReader("ignored"))
	entries, err := List(context.Background(), tk.Store)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Status)
	}
	if want := "incomplete partial complete"; strings.Join(got, " ") != want {
		t.Fatalf("statuses newest first = %q, want %q", got, want)
	}
	if entries[1].ID != second.ID || entries[2].ID != first.ID || entries[0].Keys[0] != orphan {
		t.Errorf("entries %+v", entries)
	}
}

func TestLoadRejects(t *testing.T) {
	tk, _ := newTaker(t)
	id := NewID(time.Now())
	put := func(s string) {
		if _, err := tk.Store.Put(context.Background(), ManifestKey(id), strings.NewReader(s)); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]string{
		`{"format": 99, "id": "` + id + `", "status": "complete"}`: "newer than this mbackup reads",
		`{"format": 1, "id": "other", "status": "complete"}`:       "not a manifest of this snapshot",
		`{"format": 1, "id": "` + id + `", "status": "maybe"}`:     `unknown status "maybe"`,
		`{"format": 1, "id": "` + id + `", "sta`:                   "unexpected end of JSON input",
	}
	for doc, want := range cases {
		put(doc)
		if _, err := Load(context.Background(), tk.Store, id); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%s) = %v; want %q", doc, err, want)
		}
	}
	if _, err := Load(context.Background(), tk.Store, NewID(time.Now().Add(time.Hour))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing snapshot = %v", err)
	}
	if _, err := Load(context.Background(), tk.Store, "../etc"); err == nil || !strings.Contains(err.Error(), "not a snapshot id") {
		t.Errorf("Load(../etc) = %v", err)
	}
}

// TestProducerFailureComesFirst: when a producer fails, its error is the
// artifact's reason, never wrapped in the store's "local: put KEY: ..."
// that only passed it on; before any byte, after a few, after many.
func TestProducerFailureComesFirst(t *testing.T) {
	for _, script := range []string{
		"echo 'Could not connect to Redis at 127.0.0.1:6999: Connection refused' >&2; exit 1",
		"echo some; echo 'Could not connect to Redis at 127.0.0.1:6999: Connection refused' >&2; exit 1",
		"head -c 3000000 /dev/urandom; echo 'Could not connect to Redis at 127.0.0.1:6999: Connection refused' >&2; exit 1",
	} {
		tk, _ := newTaker(t)
		jobs := []Job{
			{Component: "redis", Name: "main", Ext: ".rdb", Produce: shell(script)},
			{Component: "postgres", Name: "ok", Ext: ".dump", Produce: shell("echo fine")},
		}
		m, err := tk.Take(context.Background(), jobs)
		if !errors.Is(err, ErrPartial) || len(m.Failed) != 1 {
			t.Fatalf("Take = %v, %+v", err, m)
		}
		want := "sh: exit status 1: Could not connect to Redis at 127.0.0.1:6999: Connection refused"
		if got := m.Failed[0].Reason; got != want {
			t.Errorf("%s:\nreason %q\nwant   %q", script, got, want)
		}
	}
}

// TestFailureCauseFirst: the Taker's Explain gives the reason the manifest
// and the log record, and Take's error begins with the failures, the
// cause first, before it says what became of the snapshot.
func TestFailureCauseFirst(t *testing.T) {
	for _, partial := range []bool{false, true} {
		tk, _ := newTaker(t)
		var logged bytes.Buffer
		tk.Log = slog.New(slog.NewTextHandler(&logged, nil))
		tk.Explain = func(component, name string, err error) string {
			return "cannot connect to 127.0.0.1:6999: connection refused — is redis-server running? (redis[0].url)"
		}
		jobs := []Job{{Component: "redis", Name: "main", Ext: ".rdb", Produce: shell("echo 'Could not connect to Redis at 127.0.0.1:6999: Connection refused' >&2; exit 1")}}
		if partial {
			jobs = append(jobs, Job{Component: "postgres", Name: "ok", Ext: ".dump", Produce: shell("echo fine")})
		}
		m, err := tk.Take(context.Background(), jobs)
		want := "redis main: cannot connect to 127.0.0.1:6999: connection refused — is redis-server running? (redis[0].url)\n"
		if err == nil || !strings.HasPrefix(err.Error(), want) || errors.Is(err, ErrPartial) != partial {
			t.Errorf("partial %v: Take = %v", partial, err)
		}
		if partial && (m == nil || m.Failed[0].Reason != strings.TrimPrefix(strings.TrimSuffix(want, "\n"), "redis main: ")) {
			t.Errorf("manifest %+v", m)
		}
		if !strings.Contains(logged.String(), `reason="cannot connect to 127.0.0.1:6999`) {
			t.Errorf("log:\n%s", logged.String())
		}
	}
}
