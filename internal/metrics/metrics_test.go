package metrics

import (
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches m's handler over HTTP and parses the text exposition.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return mfs
}

// value returns the value of the series name{labels}, and whether it exists.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		match := true
		for _, lp := range m.GetLabel() {
			if v, ok := want[lp.GetName()]; !ok || v != lp.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func seriesCount(mfs map[string]*dto.MetricFamily, name string) int {
	return len(mfs[name].GetMetric())
}

func wantValue(t *testing.T, mfs map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := value(mfs, name, labels...)
	if !ok {
		t.Errorf("%s%v: absent, want %v", name, labels, want)
		return
	}
	if math.Abs(got-want) > 1e-6 {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func wantAbsent(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels ...string) {
	t.Helper()
	if v, ok := value(mfs, name, labels...); ok {
		t.Errorf("%s%v = %v, want absent", name, labels, v)
	}
}

func TestFreshRegistry(t *testing.T) {
	mfs := scrape(t, New("backup", "mirror"))
	for _, task := range []string{"backup", "mirror"} {
		for _, r := range Results {
			wantValue(t, mfs, 0, RunsTotal, "task", task, "result", r)
		}
	}
	wantValue(t, mfs, 0, PrunedTotal)
	wantValue(t, mfs, 0, NotifyFailuresTotal)
	for _, name := range []string{LastRunTimestamp, LastSuccessTimestamp, RunDuration, ArtifactBytes,
		Snapshots, NewestGoodSnapshotTime, NewestGoodSnapshotAge, MirrorObjects, MirrorBytes} {
		if mfs[name] != nil {
			t.Errorf("%s exported before anything was observed: %v", name, mfs[name])
		}
	}
	// The daemon's own series.
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if mfs[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
}

func TestRunFinished(t *testing.T) {
	m := New()
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	t1 := t0.Add(90 * time.Second)
	m.RunFinished("backup", Failure, t0, t1)

	mfs := scrape(t, m)
	wantValue(t, mfs, float64(t1.Unix()), LastRunTimestamp, "task", "backup", "result", Failure)
	wantValue(t, mfs, 90, RunDuration, "task", "backup")
	wantValue(t, mfs, 1, RunsTotal, "task", "backup", "result", Failure)
	wantValue(t, mfs, 0, RunsTotal, "task", "backup", "result", Success)
	wantValue(t, mfs, 0, RunsTotal, "task", "backup", "result", Partial)
	wantAbsent(t, mfs, LastSuccessTimestamp, "task", "backup")

	t2 := t0.Add(12 * time.Hour)
	t3 := t2.Add(1500 * time.Millisecond)
	m.RunFinished("backup", Success, t2, t3)
	m.RunFinished("mirror", Partial, t2, t2.Add(time.Minute))

	mfs = scrape(t, m)
	// One last-run series per task, with the latest result.
	if n := seriesCount(mfs, LastRunTimestamp); n != 2 {
		t.Errorf("%d %s series, want 2 (one per task): %v", n, LastRunTimestamp, mfs[LastRunTimestamp])
	}
	wantAbsent(t, mfs, LastRunTimestamp, "task", "backup", "result", Failure)
	wantValue(t, mfs, float64(t3.UnixMilli())/1000, LastRunTimestamp, "task", "backup", "result", Success)
	wantValue(t, mfs, float64(t3.UnixMilli())/1000, LastSuccessTimestamp, "task", "backup")
	wantValue(t, mfs, 1.5, RunDuration, "task", "backup")
	wantValue(t, mfs, 1, RunsTotal, "task", "backup", "result", Success)
	wantValue(t, mfs, 1, RunsTotal, "task", "backup", "result", Failure)
	wantValue(t, mfs, float64(t2.Add(time.Minute).Unix()), LastRunTimestamp, "task", "mirror", "result", Partial)
	wantValue(t, mfs, 1, RunsTotal, "task", "mirror", "result", Partial)
	wantAbsent(t, mfs, LastSuccessTimestamp, "task", "mirror")
	if mfs[RunsTotal].GetType() != dto.MetricType_COUNTER {
		t.Errorf("%s has type %v", RunsTotal, mfs[RunsTotal].GetType())
	}
}

func TestRunFinishedRejectsUnknownResult(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("RunFinished with result \"ok\" did not panic")
		}
	}()
	New().RunFinished("backup", "ok", time.Now(), time.Now())
}

func TestSetArtifactsReplaces(t *testing.T) {
	m := New()
	m.SetArtifacts([]Artifact{
		{"postgres", "globals", 1200},
		{"postgres", "mastodon_production", 5 << 30},
		{"postgres", "old_db", 10},
		{"redis", "main", 3 << 20},
	})
	m.SetArtifacts([]Artifact{
		{"postgres", "globals", 1300},
		{"postgres", "mastodon_production", 6 << 30},
		{"redis", "main", 4 << 20},
		{"mysql", "writefreely", 777},
	})
	mfs := scrape(t, m)
	if n := seriesCount(mfs, ArtifactBytes); n != 4 {
		t.Errorf("%d artifact series, want 4: %v", n, mfs[ArtifactBytes])
	}
	wantAbsent(t, mfs, ArtifactBytes, "component", "postgres", "database", "old_db")
	wantValue(t, mfs, 1300, ArtifactBytes, "component", "postgres", "database", "globals")
	wantValue(t, mfs, 6<<30, ArtifactBytes, "component", "postgres", "database", "mastodon_production")
	wantValue(t, mfs, 4<<20, ArtifactBytes, "component", "redis", "database", "main")
	wantValue(t, mfs, 777, ArtifactBytes, "component", "mysql", "database", "writefreely")
}

func TestSnapshots(t *testing.T) {
	m := New()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	m.newest.now = func() time.Time { return now }

	// No good snapshot: the timestamp is 0 (so that time() - it is huge and
	// the alert fires) and the age is absent.
	m.SetSnapshots(SnapshotCounts{Partial: 1, Incomplete: 2}, time.Time{})
	mfs := scrape(t, m)
	wantValue(t, mfs, 0, Snapshots, "status", "complete")
	wantValue(t, mfs, 1, Snapshots, "status", "partial")
	wantValue(t, mfs, 2, Snapshots, "status", "incomplete")
	wantValue(t, mfs, 0, NewestGoodSnapshotTime)
	wantAbsent(t, mfs, NewestGoodSnapshotAge)

	good := now.Add(-3 * time.Hour)
	m.SetSnapshots(SnapshotCounts{Complete: 5, Incomplete: 1}, good)
	mfs = scrape(t, m)
	wantValue(t, mfs, 5, Snapshots, "status", "complete")
	wantValue(t, mfs, 0, Snapshots, "status", "partial")
	wantValue(t, mfs, 0, Snapshots, "status", "unreadable")

	m.SetSnapshots(SnapshotCounts{Complete: 5, Unreadable: 1, NewerFormat: 2, Future: 1}, good)
	mfs = scrape(t, m)
	wantValue(t, mfs, 1, Snapshots, "status", "unreadable")
	wantValue(t, mfs, 2, Snapshots, "status", "newer-format")
	wantValue(t, mfs, 1, Snapshots, "status", "future")
	wantValue(t, mfs, float64(good.Unix()), NewestGoodSnapshotTime)
	wantValue(t, mfs, 3*3600, NewestGoodSnapshotAge)

	// The age is computed at scrape time.
	now = now.Add(time.Hour)
	mfs = scrape(t, m)
	wantValue(t, mfs, 4*3600, NewestGoodSnapshotAge)
	for _, name := range []string{NewestGoodSnapshotTime, NewestGoodSnapshotAge, Snapshots} {
		if mfs[name].GetType() != dto.MetricType_GAUGE {
			t.Errorf("%s has type %v", name, mfs[name].GetType())
		}
	}
}

func TestCountersAndMirror(t *testing.T) {
	m := New()
	m.Pruned(3)
	m.Pruned(0)
	m.Pruned(2)
	m.NotifyFailed()
	m.NotifyFailed()
	m.SetMirror(10, 1000, 2, 1, 123456)
	m.SetMirror(4, 1010, 0, 0, 4096)
	m.SetMirrorThrottles(37, 2)
	mfs := scrape(t, m)
	wantValue(t, mfs, 5, PrunedTotal)
	wantValue(t, mfs, 2, NotifyFailuresTotal)
	wantValue(t, mfs, 4, MirrorObjects, "action", "copied")
	wantValue(t, mfs, 1010, MirrorObjects, "action", "skipped")
	wantValue(t, mfs, 0, MirrorObjects, "action", "deleted")
	wantValue(t, mfs, 0, MirrorObjects, "action", "failed")
	wantValue(t, mfs, 4096, MirrorBytes)
	wantValue(t, mfs, 37, MirrorThrottles, "side", "source")
	wantValue(t, mfs, 2, MirrorThrottles, "side", "store")
}

// setAll touches every series once.
func setAll(m *Metrics) {
	now := time.Now()
	m.RunFinished("backup", Success, now.Add(-time.Minute), now)
	m.SetArtifacts([]Artifact{{"postgres", "mastodon_production", 1}})
	m.SetSnapshots(SnapshotCounts{Complete: 1}, now)
	m.Pruned(1)
	m.NotifyFailed()
	m.PingFailed("backup")
	m.SetMirror(1, 2, 3, 4, 5)
	m.SetMirrorThrottles(1, 0)
	m.SetShrunk(2)
	m.SetStorageCap("backup", true)
	m.SetDrill(Drill{LastOK: now, Duration: time.Minute, ComponentSeconds: map[string]float64{"postgres": 30}})
}

// TestSetShrunk: absent until a snapshot was taken, then its flag count.
func TestSetShrunk(t *testing.T) {
	m := New()
	if _, ok := scrape(t, m)[ShrunkArtifacts]; ok {
		t.Errorf("%s exported before any snapshot", ShrunkArtifacts)
	}
	m.SetShrunk(3)
	wantValue(t, scrape(t, m), 3, ShrunkArtifacts)
	m.SetShrunk(0)
	wantValue(t, scrape(t, m), 0, ShrunkArtifacts)
}

// TestSetStorageCap: absent until a write task ran, then 1 for a run at the
// cap and 0 for the next run that was not.
func TestSetStorageCap(t *testing.T) {
	m := New("backup", "mirror")
	if _, ok := scrape(t, m)[StorageCapReached]; ok {
		t.Errorf("%s exported before any run", StorageCapReached)
	}
	m.SetStorageCap("backup", true)
	wantValue(t, scrape(t, m), 1, StorageCapReached, "task", "backup")
	m.SetStorageCap("mirror", false)
	wantValue(t, scrape(t, m), 0, StorageCapReached, "task", "mirror")
	m.SetStorageCap("backup", false)
	wantValue(t, scrape(t, m), 0, StorageCapReached, "task", "backup")
}

// TestNamesMatchRegistry: Names is exactly the set of mbackup_* families the
// registry exposes once every series has been set, and each is documented
// in the package comment.
func TestNamesMatchRegistry(t *testing.T) {
	names := Names()
	if !sort.StringsAreSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("Names() is not sorted and unique: %v", names)
	}
	m := New()
	setAll(m)
	mfs := scrape(t, m)
	var exposed []string
	for name, mf := range mfs {
		if strings.HasPrefix(name, namePrefix) {
			exposed = append(exposed, name)
			if mf.GetHelp() == "" {
				t.Errorf("%s has no help text", name)
			}
		}
	}
	sort.Strings(exposed)
	if !slices.Equal(exposed, names) {
		t.Errorf("registry exposes %v\nNames() returns  %v", exposed, names)
	}
	src, err := os.ReadFile("metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	pkgDoc, _, _ := strings.Cut(string(src), "\npackage metrics")
	for _, name := range names {
		if !strings.Contains(pkgDoc, "//\t"+name) {
			t.Errorf("%s is not documented in the package comment", name)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	m := New("backup")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				now := time.Now()
				m.RunFinished("backup", Results[(i+j)%3], now, now)
				m.SetArtifacts([]Artifact{{"redis", "main", int64(j)}})
				m.SetSnapshots(SnapshotCounts{Complete: j}, now)
				m.SetMirror(j, j, j, j, int64(j))
				m.Pruned(1)
			}
		})
	}
	for range 20 {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("scrape: %s", resp.Status)
		}
		resp.Body.Close()
	}
	wg.Wait()
	mfs := scrape(t, m)
	if n := seriesCount(mfs, LastRunTimestamp); n != 1 {
		t.Errorf("%d %s series after concurrent runs, want 1", n, LastRunTimestamp)
	}
	wantValue(t, mfs, 200, PrunedTotal)
}

// parseTextfile parses path the way node_exporter's textfile collector does.
func parseTextfile(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("%s does not parse: %v", path, err)
	}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.TimestampMs != nil {
				t.Errorf("%s has a timestamp, which node_exporter rejects", name)
			}
		}
	}
	return mfs
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteTextfile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mbackup.prom")
	m := New("backup")
	setAll(m)
	if err := m.WriteTextfile(path); err != nil {
		t.Fatal(err)
	}
	mfs := parseTextfile(t, path)
	var names []string
	for name := range mfs {
		names = append(names, name)
	}
	sort.Strings(names)
	if !slices.Equal(names, Names()) {
		t.Errorf("textfile has %v, want exactly %v (no go_* or process_*)", names, Names())
	}
	wantValue(t, mfs, 1, RunsTotal, "task", "backup", "result", Success)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 (node_exporter runs as another user)", fi.Mode().Perm())
	}

	// Rewriting replaces the file.
	m.Pruned(41)
	if err := m.WriteTextfile(path); err != nil {
		t.Fatal(err)
	}
	wantValue(t, parseTextfile(t, path), 42, PrunedTotal)
	if got := dirNames(t, dir); !slices.Equal(got, []string{"mbackup.prom"}) {
		t.Errorf("directory holds %v, want only mbackup.prom", got)
	}
}

func TestWriteTextfileFailureLeavesNothing(t *testing.T) {
	m := New()
	setAll(m)

	t.Run("missing directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := m.WriteTextfile(filepath.Join(dir, "nope", "mbackup.prom")); err == nil {
			t.Fatal("no error for a missing directory")
		}
		if got := dirNames(t, dir); len(got) != 0 {
			t.Errorf("left %v", got)
		}
	})

	t.Run("rename fails", func(t *testing.T) {
		// The target is a non-empty directory: everything succeeds up to
		// the rename, and the temporary file must go.
		dir := t.TempDir()
		target := filepath.Join(dir, "mbackup.prom")
		if err := os.MkdirAll(filepath.Join(target, "x"), 0o755); err != nil {
			t.Fatal(err)
		}
		err := m.WriteTextfile(target)
		if err == nil {
			t.Fatal("no error renaming over a directory")
		}
		if !strings.Contains(err.Error(), target) {
			t.Errorf("error %q does not name %s", err, target)
		}
		if got := dirNames(t, dir); !slices.Equal(got, []string{"mbackup.prom"}) {
			t.Errorf("directory holds %v, want only the target", got)
		}
	})

	t.Run("gather fails", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "mbackup.prom")
		if err := m.WriteTextfile(path); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(path)
		boom := errors.New("boom")
		err := writeTextfile(path, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
			return nil, boom
		}))
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
		after, _ := os.ReadFile(path)
		if string(after) != string(before) {
			t.Error("the previous file was changed by a failed write")
		}
		if got := dirNames(t, dir); !slices.Equal(got, []string{"mbackup.prom"}) {
			t.Errorf("directory holds %v", got)
		}
	})

	t.Run("read-only directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o755)
		err := m.WriteTextfile(filepath.Join(dir, "mbackup.prom"))
		if os.Geteuid() == 0 {
			// root writes anyway; the other cases cover the failure paths.
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		if err == nil {
			t.Fatal("no error writing into a read-only directory")
		}
		if got := dirNames(t, dir); len(got) != 0 {
			t.Errorf("left %v", got)
		}
	})
}
