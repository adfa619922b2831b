package metrics

import (
	"testing"
	"time"
)

func TestDrillSeries(t *testing.T) {
	m := New()
	mfs := scrape(t, m)
	for _, n := range []string{DrillLastSuccessTimestamp, DrillLastOK, DrillDuration, DrillRestoreSeconds} {
		wantAbsent(t, mfs, n)
	}
	ok := time.Unix(1_800_000_000, 0)
	m.SetDrill(Drill{LastOK: ok, Duration: 14 * time.Minute, ComponentSeconds: map[string]float64{"postgres": 600, "redis": 5}})
	mfs = scrape(t, m)
	wantValue(t, mfs, 1_800_000_000, DrillLastSuccessTimestamp)
	wantValue(t, mfs, 1, DrillLastOK)
	wantValue(t, mfs, 840, DrillDuration)
	wantValue(t, mfs, 600, DrillRestoreSeconds, "component", "postgres")
	wantValue(t, mfs, 5, DrillRestoreSeconds, "component", "redis")

	// Drills ran, the newest failed and none ever succeeded: the last
	// success is 0, so that an alert on its age fires.
	m.SetDrill(Drill{LastFailed: true})
	mfs = scrape(t, m)
	wantValue(t, mfs, 0, DrillLastSuccessTimestamp)
	wantValue(t, mfs, 0, DrillLastOK)
	wantAbsent(t, mfs, DrillRestoreSeconds, "component", "postgres")
}

func TestSeedLastSuccess(t *testing.T) {
	m := New("backup", "drill")
	seeded := time.Unix(1_700_000_000, 0)
	m.SeedLastSuccess("backup", seeded)
	m.SeedLastSuccess("drill", time.Time{}) // nothing in the store: absent
	mfs := scrape(t, m)
	wantValue(t, mfs, 1_700_000_000, LastSuccessTimestamp, TaskLabel, "backup")
	wantAbsent(t, mfs, LastSuccessTimestamp, TaskLabel, "drill")

	// A run of this process wins over the store, also over a later seed.
	ran := time.Unix(1_700_100_000, 0)
	m.RunFinished("backup", Success, ran.Add(-time.Minute), ran)
	m.SeedLastSuccess("backup", seeded)
	wantValue(t, scrape(t, m), 1_700_100_000, LastSuccessTimestamp, TaskLabel, "backup")
}
