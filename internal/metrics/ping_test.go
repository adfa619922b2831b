package metrics

import "testing"

// TestPingFailures: the counter is at zero for every task given to New
// from the start, and counts per task.
func TestPingFailures(t *testing.T) {
	m := New("backup", "drill")
	mfs := scrape(t, m)
	wantValue(t, mfs, 0, PingFailuresTotal, "task", "backup")
	wantValue(t, mfs, 0, PingFailuresTotal, "task", "drill")
	wantAbsent(t, mfs, PingFailuresTotal, "task", "mirror")
	m.PingFailed("backup")
	m.PingFailed("backup")
	m.PingFailed("mirror")
	mfs = scrape(t, m)
	wantValue(t, mfs, 2, PingFailuresTotal, "task", "backup")
	wantValue(t, mfs, 0, PingFailuresTotal, "task", "drill")
	wantValue(t, mfs, 1, PingFailuresTotal, "task", "mirror")
}
