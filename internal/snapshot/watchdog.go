package snapshot

import (
	"context"
	"fmt"
	"io"
	"time"

	"mbackup/internal/stall"
)

// ErrStalled is the cause of a producer killed by the watchdog. It is a
// stall.ErrStalled.
var ErrStalled = fmt.Errorf("snapshot: producer %w", stall.ErrStalled)

// watch returns w for a producer that the watchdog cancels (through
// cancel) once it writes nothing for timeout while no write of its is in
// progress: a write that blocks because the store is slow is the store's
// business (its own stall timeout), not the producer's. The returned stop
// function ends the watch.
func watch(w io.Writer, timeout time.Duration, cancel context.CancelCauseFunc) (io.Writer, func()) {
	cause := fmt.Errorf("%w: it wrote nothing for %v (stopped or hung); it was killed", ErrStalled, timeout)
	wd := stall.New(timeout, cancel, cause)
	return wd.Writer(w), wd.Stop
}
