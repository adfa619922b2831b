package task

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"mbackup/internal/config"
	"mbackup/internal/dump"
	"mbackup/internal/lock"
	"mbackup/internal/metrics"
	"mbackup/internal/retention"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
	"mbackup/internal/storage/local"
)

// syncBuffer is a log the daemon writes and the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// taker takes real snapshots of one small dump into a local store,
// dated ago in the past.
func taker(s storage.Store, ago time.Duration) *snapshot.Taker {
	id, _ := age.GenerateX25519Identity() // fails only when the system's randomness does
	return &snapshot.Taker{Store: s, Recipients: []age.Recipient{id.Recipient()}, RecipientIDs: []string{id.Recipient().String()},
		Host: "test", Tool: "mbackup test", Now: func() time.Time { return time.Now().Add(-ago) }}
}

var smallDump = []snapshot.Job{{Component: "postgres", Name: "db", Ext: ".dump",
	Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) {
		_, err := io.WriteString(w, strings.Repeat("row\n", 1000))
		return dump.Info{Command: "test"}, err
	}}}

// testDaemon is a daemon on a local store in a temporary directory.
type testDaemon struct {
	*Daemon
	cfg *config.Config
	m   *metrics.Metrics
	log *syncBuffer
}

func startTestDaemon(t *testing.T, dir string) *testDaemon {
	t.Helper()
	return startConfiguredDaemon(t, dir, nil)
}

// startConfiguredDaemon is startTestDaemon with its configuration changed
// by edit first, when not nil, and given to the observer.
func startConfiguredDaemon(t *testing.T, dir string, edit func(*config.Config)) *testDaemon {
	t.Helper()
	cfg := &config.Config{Host: "test",
		Storage:   config.Storage{Type: config.StorageLocal, Path: dir},
		Schedule:  config.Schedule{Backup: "@every 1h"},
		Retention: config.Retention{KeepWithin: config.Duration(time.Second), KeepLast: 1},
	}
	if edit != nil {
		edit(cfg)
	}
	td := &testDaemon{cfg: cfg, m: metrics.New(Tasks...), log: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(td.log, nil))
	obs := NewObserver(log, td.m)
	if err := obs.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	td.Daemon = NewDaemon(log, obs, Ops{
		Load:  func() (*config.Config, error) { return cfg, nil },
		Open:  func(_ context.Context, c config.Storage) (storage.Store, error) { return local.New(c.Path) },
		Locks: func(c config.Storage) (lock.Place, error) { return lock.InDir(c.Path) },
		Take: func(ctx context.Context, _ *config.Config, s storage.Store) (*snapshot.Manifest, error) {
			return taker(s, 0).Take(ctx, smallDump)
		},
		PruneSummary: func(rep retention.PruneReport) string { return fmt.Sprintf("pruned %d", len(rep.Deleted)) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	if err := td.Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		td.Stop()
		checkLog(t, td.log.String())
	})
	return td
}

// checkLog fails t when log, a daemon's text log, shows a zero time or a
// key with a space (the text handler quotes such a key).
func checkLog(t *testing.T, log string) {
	t.Helper()
	if strings.Contains(log, "0001-01-01") {
		t.Errorf("a zero time in the log:\n%s", log)
	}
	if m := spacedKey.FindString(log); m != "" {
		t.Errorf("a log key with a space, %s, in:\n%s", m, log)
	}
}

// spacedKey is a quoted key in a text log line.
var spacedKey = regexp.MustCompile(` "[^"=]*"=`)

// value is the value of the series name with labels on td's metrics, -1
// when it is absent.
func (td *testDaemon) value(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	td.m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
next:
	for _, m := range mfs[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
				continue next
			}
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	return -1
}

func (td *testDaemon) runs(t *testing.T, task, result string) float64 {
	return td.value(t, metrics.RunsTotal, map[string]string{metrics.TaskLabel: task, metrics.ResultLabel: result})
}

// waitFor polls cond until it holds or a minute passed.
func (td *testDaemon) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s never happened; log:\n%s", what, td.log.String())
}

// TestDaemonBackupCountsPrune: the catch-up backup of a store whose only
// snapshot is three days old takes one, and the prune after it is
// counted as a prune run of its own, with the snapshot it deleted.
func TestDaemonBackupCountsPrune(t *testing.T) {
	dir := t.TempDir()
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	old, err := taker(s, 72*time.Hour).Take(context.Background(), smallDump)
	if err != nil {
		t.Fatal(err)
	}
	td := startTestDaemon(t, dir)
	td.waitFor(t, "the catch-up backup counted", func() bool { return td.runs(t, Backup, metrics.Success) == 1 })
	for _, c := range []struct {
		what string
		got  float64
		want float64
	}{
		{"prune successes", td.runs(t, Prune, metrics.Success), 1},
		{"prune failures", td.runs(t, Prune, metrics.Failure), 0},
		{"backup failures", td.runs(t, Backup, metrics.Failure), 0},
		{"pruned snapshots", td.value(t, metrics.PrunedTotal, nil), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v; log:\n%s", c.what, c.got, c.want, td.log.String())
		}
	}
	entries, err := snapshot.List(context.Background(), s)
	if err != nil || len(entries) != 1 || entries[0].ID == old.ID {
		t.Errorf("after the prune: %+v, %v (the old one: %s)", entries, err, old.ID)
	}
	if !strings.Contains(td.log.String(), `msg="run finished" job=backup result=success`) {
		t.Errorf("log:\n%s", td.log.String())
	}
}

// TestDaemonLockedOut: a backup due while another run holds the store's
// writers' lock does not start and is a failed run, naming the holder.
func TestDaemonLockedOut(t *testing.T) {
	dir := t.TempDir()
	p, err := lock.InDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lock.Acquire(p, "mbackup backup (the test)")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	td := startTestDaemon(t, dir) // an empty store: a backup at once
	td.waitFor(t, "the locked-out backup counted", func() bool { return td.runs(t, Backup, metrics.Failure) == 1 })
	if n := td.runs(t, Backup, metrics.Success); n != 0 {
		t.Errorf("%v backups succeeded under the lock", n)
	}
	if log := td.log.String(); !strings.Contains(log, "backup did not run") || !strings.Contains(log, "this mbackup daemon: backup did not start") {
		t.Errorf("log:\n%s", log)
	}
}
