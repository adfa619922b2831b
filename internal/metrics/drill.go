package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Series of the restore drill, read from the drill records in the store
// (SetDrill), so that the backup host exports them too and they survive
// restarts.
const (
	DrillLastSuccessTimestamp = "mbackup_drill_last_success_timestamp_seconds"
	DrillLastOK               = "mbackup_drill_last_ok"
	DrillDuration             = "mbackup_drill_duration_seconds"
	DrillRestoreSeconds       = "mbackup_drill_restore_seconds"
)

// Drill is what the drill records in the store say.
type Drill struct {
	// LastOK is the end of the newest successful drill; zero when no
	// drill succeeded.
	LastOK time.Time
	// LastFailed says the newest drill failed.
	LastFailed bool
	// Duration and ComponentSeconds are those of the newest successful
	// drill: its RTO, and each component's restore time.
	Duration         time.Duration
	ComponentSeconds map[string]float64
}

// drillSeries are the drill's gauges.
type drillSeries struct {
	lastSuccess, lastOK, duration prometheus.Gauge
	restore                       *prometheus.GaugeVec
}

func newDrillSeries() drillSeries {
	return drillSeries{
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: DrillLastSuccessTimestamp,
			Help: "End of the newest successful restore drill in the store, Unix seconds; 0 when drills ran and none succeeded."}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: DrillLastOK,
			Help: "1 when the newest restore drill in the store succeeded, 0 when it failed."}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{Name: DrillDuration,
			Help: "Duration of the newest successful restore drill (servers started, every component restored and checked): the RTO on the drill's machine."}),
		restore: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: DrillRestoreSeconds,
			Help: "Restore time of each component in the newest successful restore drill, in seconds."}, []string{componentLabel}),
	}
}

func (d drillSeries) collectors() []prometheus.Collector {
	return []prometheus.Collector{d.lastSuccess, d.lastOK, d.duration, d.restore}
}

// SetDrill records what the newest drill records say. The series are
// registered at the first call: absent until the store's records were
// read and some were found (call it only then).
func (m *Metrics) SetDrill(d Drill) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.drillRegistered {
		m.reg.MustRegister(m.drill.collectors()...)
		m.drillRegistered = true
	}
	m.drill.lastSuccess.Set(0)
	if !d.LastOK.IsZero() {
		m.drill.lastSuccess.Set(unixSeconds(d.LastOK))
	}
	m.drill.lastOK.Set(1)
	if d.LastFailed {
		m.drill.lastOK.Set(0)
	}
	m.drill.duration.Set(d.Duration.Seconds())
	m.drill.restore.Reset()
	for c, s := range d.ComponentSeconds {
		m.drill.restore.WithLabelValues(c).Set(s)
	}
}

// SeedLastSuccess sets task's last-success time to t, read from the store
// (the newest complete snapshot, the newest successful drill, the mirror's
// index), unless this process saw a run of task succeed already: after a
// restart the series exist before the first run.
func (m *Metrics) SeedLastSuccess(task string, t time.Time) {
	if t.IsZero() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.succeeded[task] {
		return
	}
	m.lastSuccess.WithLabelValues(task).Set(unixSeconds(t))
}
