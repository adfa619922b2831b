//go:build !race

package b2

// raceEnabled reports a -race build; see race_test.go.
const raceEnabled = false
