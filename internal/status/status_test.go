package status

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/lock"
	"mbackup/internal/metrics"
	"mbackup/internal/storage/local"
)

// TestScrape: the last runs are read from a real registry's /metrics, in
// the order it exposes them, with their durations.
func TestScrape(t *testing.T) {
	m := metrics.New("backup", "verify")
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	m.RunFinished("backup", metrics.Success, t0, t0.Add(90*time.Second))
	m.RunFinished("verify", metrics.Failure, t0, t0.Add(1500*time.Millisecond))
	m.RunFinished("backup", metrics.Partial, t0.Add(time.Hour), t0.Add(time.Hour+2*time.Minute))
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	d := Scrape(context.Background(), srv.URL)
	want := &Daemon{URL: srv.URL, Reachable: true, Runs: []LastRun{
		{Job: "verify", Result: "failure", Time: "2026-11-23T12:00:01Z", Duration: 1.5},
		{Job: "backup", Result: "partial", Time: "2026-11-23T13:02:00Z", Duration: 120},
	}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Scrape = %+v\nwant %+v", d, want)
	}

	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>not metrics</html>\n")) }))
	defer other.Close()
	if d := Scrape(context.Background(), other.URL); !d.Reachable || d.Runs != nil {
		t.Errorf("a server that is not the daemon: %+v", d)
	}
	other.Close()
	if d := Scrape(context.Background(), other.URL); d.Reachable {
		t.Errorf("a closed port: %+v", d)
	}
}

// TestGatherTakesNoLock: a report gathered while a run holds the store's
// writers' lock names the holder; gathering reports over and over never
// keeps a run from taking the lock.
func TestGatherTakesNoLock(t *testing.T) {
	dir := t.TempDir()
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Storage: config.Storage{Type: config.StorageLocal, Path: dir}, Schedule: config.Schedule{Backup: "0 3 * * *"}}
	locks := func(c config.Storage) (lock.Place, error) { return lock.InDir(c.Path) }
	p, err := locks(cfg.Storage)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lock.Acquire(p, "mbackup backup (the test)")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Gather(context.Background(), cfg, s, locks, time.Now())
	if err != nil || r.RunHolder == "" || r.NewestGood != nil || len(r.Schedules) != 1 {
		t.Fatalf("Gather = %+v, %v", r, err)
	}
	l.Release()

	const rounds = 300
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	gathered := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if _, err := Gather(ctx, cfg, s, locks, time.Now()); err != nil {
				t.Error(err)
				return
			}
			gathered++
		}
	}()
	for i := 0; i < rounds; i++ {
		l, err := lock.Acquire(p, "mbackup backup (the test)")
		if errors.Is(err, lock.ErrBusy) || err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		l.Release()
	}
	stop()
	wg.Wait()
	t.Logf("%d locks taken while %d reports were gathered", rounds, gathered)
}
