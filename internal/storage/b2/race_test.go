//go:build race

package b2

// raceEnabled reports a -race build, in which sync.Pool drops a quarter of
// the buffers put back on purpose, so heap figures are not those of a
// release build.
const raceEnabled = true
