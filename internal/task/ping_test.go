package task

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/lock"
	"mbackup/internal/metrics"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage/local"
	"mbackup/internal/stream"
)

// pingUUID is in every ping URL: never to be seen in a log line or a body.
const pingUUID = "0f1e2d3c-ping-uuid"

// monitor is a dead-man ping receiver: it records each request's path and
// body and answers with status(path); 0 hangs until the test ends.
type monitor struct {
	*httptest.Server
	mu   sync.Mutex
	hits []hit
}

type hit struct{ path, body string }

func newMonitor(t *testing.T, status func(path string) int) *monitor {
	t.Helper()
	m := &monitor{}
	hang := make(chan struct{})
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		m.mu.Lock()
		m.hits = append(m.hits, hit{r.URL.Path, string(b)})
		m.mu.Unlock()
		code := status(r.URL.Path)
		if code == 0 {
			<-hang
			return
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(func() { close(hang); m.Close() }) // in this order: Close waits for a hung handler
	return m
}

func (m *monitor) paths() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ps []string
	for _, h := range m.hits {
		ps = append(ps, h.path)
	}
	return ps
}

// body is the body of the last request to path, and whether there was one.
func (m *monitor) body(path string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.hits) - 1; i >= 0; i-- {
		if m.hits[i].path == path {
			return m.hits[i].body, true
		}
	}
	return "", false
}

// withPings configures the ping URLs base/TASK-pingUUID for tasks, with
// timeout.
func withPings(base string, timeout time.Duration, tasks ...string) func(*config.Config) {
	return func(cfg *config.Config) {
		p := &config.Ping{Timeout: config.Duration(timeout)}
		for _, task := range tasks {
			u := config.NewSecret(base + "/" + task + "-" + pingUUID)
			switch task {
			case Backup:
				p.Backup = u
			case Prune:
				p.Prune = u
			case Verify:
				p.Verify = u
			}
		}
		cfg.Notify = &config.Notify{Ping: p}
	}
}

// TestDaemonPingHangs: a start ping to a monitor that never answers holds
// the daemon's backup for the ping timeout only, within a factor; the run
// succeeds, the failure is counted and logged without the URL, and the
// success ping goes out with the run's summary.
func TestDaemonPingHangs(t *testing.T) {
	m := newMonitor(t, func(path string) int {
		if strings.HasSuffix(path, "/start") {
			return 0
		}
		return 200
	})
	const timeout = 200 * time.Millisecond
	begin := time.Now()
	td := startConfiguredDaemon(t, t.TempDir(), withPings(m.URL, timeout, Backup))
	td.waitFor(t, "the success ping", func() bool { _, ok := m.body("/backup-" + pingUUID); return ok })
	took := time.Since(begin)
	t.Logf("a backup with a hung start ping (timeout %s): %s", timeout, took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("the run took %s with a ping timeout of %s", took, timeout)
	}
	if n := td.runs(t, Backup, metrics.Success); n != 1 {
		t.Errorf("%v successful backups; log:\n%s", n, td.log.String())
	}
	if n := td.value(t, metrics.PingFailuresTotal, map[string]string{metrics.TaskLabel: Backup}); n != 1 {
		t.Errorf("%v ping failures, want 1", n)
	}
	log := td.log.String()
	if !strings.Contains(log, `msg="ping failed (the run itself is not affected)" job=backup err="ping: backup start:`) ||
		strings.Contains(log, pingUUID) || strings.Contains(log, m.URL) {
		t.Errorf("log:\n%s", log)
	}
	body, _ := m.body("/backup-" + pingUUID)
	if !strings.Contains(body, "✅ backup of test: success") || !strings.Contains(body, "snapshot ") {
		t.Errorf("success body:\n%s", body)
	}
}

// TestDaemonPingFails: a monitor that answers 500 or refuses connections
// changes nothing of a backup and its prune: both succeed; each of their
// pings is counted as failed and logged without the URL.
func TestDaemonPingFails(t *testing.T) {
	refused := closedURL(t)
	m := newMonitor(t, func(string) int { return 500 })
	for name, base := range map[string]string{"500": m.URL, "refused": refused} {
		t.Run(name, func(t *testing.T) {
			td := startConfiguredDaemon(t, t.TempDir(), withPings(base, 200*time.Millisecond, Backup, Prune))
			td.waitFor(t, "the backup counted", func() bool { return td.runs(t, Backup, metrics.Success) == 1 })
			for _, task := range []string{Backup, Prune} {
				if n := td.runs(t, task, metrics.Success); n != 1 {
					t.Errorf("%s: %v successful runs", task, n)
				}
				// start and success
				if n := td.value(t, metrics.PingFailuresTotal, map[string]string{metrics.TaskLabel: task}); n != 2 {
					t.Errorf("%s: %v ping failures, want 2", task, n)
				}
			}
			log := td.log.String()
			want := map[string]string{"500": "the monitor answered 500", "refused": "connection refused"}[name]
			if strings.Count(log, "ping failed") != 4 || !strings.Contains(log, want) || strings.Contains(log, pingUUID) {
				t.Errorf("log:\n%s", log)
			}
		})
	}
	if got := strings.Join(m.paths(), " "); got != "/backup-"+pingUUID+"/start /prune-"+pingUUID+"/start /prune-"+pingUUID+" /backup-"+pingUUID {
		t.Errorf("pings in order: %s", got)
	}
}

// TestDaemonPingLockedOut: a backup that cannot take its lock pings start
// then fail, and the body names the holder.
func TestDaemonPingLockedOut(t *testing.T) {
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
	m := newMonitor(t, func(string) int { return 200 })
	td := startConfiguredDaemon(t, dir, withPings(m.URL, time.Second, Backup, Prune))
	td.waitFor(t, "the fail ping", func() bool { _, ok := m.body("/backup-" + pingUUID + "/fail"); return ok })
	if got := strings.Join(m.paths(), " "); got != "/backup-"+pingUUID+"/start /backup-"+pingUUID+"/fail" {
		t.Errorf("pings: %s", got)
	}
	if b, _ := m.body("/backup-" + pingUUID + "/fail"); !strings.Contains(b, "❌ backup of test: failure") || !strings.Contains(b, "the test") {
		t.Errorf("fail body:\n%s", b)
	}
}

// TestPingPartialRedacted: a partial snapshot pings fail; the body is the
// plain text of the Slack message, unescaped, without any secret of the
// configuration.
func TestPingPartialRedacted(t *testing.T) {
	m := newMonitor(t, func(string) int { return 200 })
	cfg := &config.Config{Host: "social.example", Postgres: &config.Postgres{Password: config.NewSecret("hunter2-secret")}}
	withPings(m.URL, time.Second, Backup)(cfg)
	var log strings.Builder
	o := NewObserver(slog.New(slog.NewTextHandler(&log, nil)), metrics.New(Tasks...))
	if err := o.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	man := &snapshot.Manifest{ID: "20261123T120000Z-abcdef", Status: snapshot.StatusPartial,
		Artifacts: []snapshot.Artifact{{Component: "postgres", Name: "a&b <db>", Sums: stream.Sums{StoredBytes: 1 << 20}}},
		Failed:    []snapshot.Failure{{Component: "redis", Name: "main", Reason: "NOAUTH hunter2-secret; ping " + m.URL + "/backup-" + pingUUID}}}
	o.Done(context.Background(), Outcome{Task: Backup, Started: time.Now(), Manifest: man, Err: errors.New("backup: partial")})
	b, ok := m.body("/backup-" + pingUUID + "/fail")
	if !ok {
		t.Fatalf("no fail ping: %v; log:\n%s", m.paths(), log.String())
	}
	if strings.Contains(b, "hunter2") || strings.Contains(b, pingUUID) || !strings.Contains(b, "⚠️ backup of social.example: partial") ||
		!strings.Contains(b, "failed: redis/main: NOAUTH [redacted]") || strings.Contains(b, "&amp;") {
		t.Errorf("body:\n%s", b)
	}
}

// TestReportPings: a one-shot command pings only its final outcome, and
// only when it posts.
func TestReportPings(t *testing.T) {
	m := newMonitor(t, func(string) int { return 200 })
	cfg := &config.Config{Host: "test"}
	withPings(m.URL, time.Second, Backup)(cfg)
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := Outcome{Task: Backup, Started: time.Now()}
	if err := Report(context.Background(), log, cfg, s, r, false, ""); err != nil {
		t.Fatal(err)
	}
	if p := m.paths(); len(p) != 0 {
		t.Errorf("pinged without post: %v", p)
	}
	if err := Report(context.Background(), log, cfg, s, r, true, ""); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.paths(), " "); got != "/backup-"+pingUUID {
		t.Errorf("pings with post: %s", got)
	}
}

// closedURL is the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}
