// Package task runs mbackup's scheduled tasks (backup and the prune after
// it, mirror, verify) and reports what every run did, for the daemon and
// for the one-shot commands.
//
// Invariants:
//   - Every run of a task ends in exactly one result, metrics.Success,
//     metrics.Partial or metrics.Failure, chosen by Outcome.Result alone,
//     and is recorded once in the metrics, logged once and posted to Slack
//     when configured (Observer.Done). The prune after a backup is counted
//     as a run of its own: its success is told in the backup's message, its
//     failure is also a run reported on its own; a prune skipped because a
//     restore or verify reads the store is neither.
//   - A notification or a dead-man ping that fails never fails a run: it
//     is logged and counted (metrics.NotifyFailed, metrics.PingFailed), and
//     a ping holds a run for at most notify.ping.timeout (ping.go).
//   - A scheduled run that cannot take its lock is a failed run that names
//     the holder: backup and mirror take the store's writers' lock without
//     waiting, verify the readers' lock shared; the prune after a backup
//     takes the readers' lock exclusively without waiting.
//   - The package knows no command line: loading the configuration,
//     opening the store, where its locks are, taking a snapshot and
//     mirroring the media are given to it (Ops).
package task

import (
	"time"

	"mbackup/internal/mediasync"
	"mbackup/internal/metrics"
	"mbackup/internal/snapshot"
)

// Tasks, the values of the metrics' task label.
const (
	Backup = "backup"
	Mirror = "mirror"
	Prune  = "prune"
	Verify = "verify"
	Drill  = "drill"
)

// Tasks lists the tasks the daemon runs.
var Tasks = []string{Backup, Mirror, Prune, Verify, Drill}

// Outcome is what one run of a task did, for the log, the metrics and
// the notifications.
type Outcome struct {
	Task     string
	Started  time.Time
	Manifest *snapshot.Manifest // the snapshot taken or checked, if any
	Err      error
	Summary  string // an extra line, such as what prune deleted
	Next     time.Time
	// NewestGood is the time of the newest good snapshot after the run,
	// zero when the store holds none; it counts only when NewestKnown
	// (the store was listed for the report), else the message leaves it out.
	NewestGood  time.Time
	NewestKnown bool
	Mirror      *mediasync.Result // what a mirror run did
}

// Result classifies the run: metrics.Success without an error,
// metrics.Partial when the snapshot it committed lacks some components,
// else metrics.Failure.
func (o Outcome) Result() string {
	switch {
	case o.Err == nil:
		return metrics.Success
	case o.Manifest != nil && o.Manifest.Status == snapshot.StatusPartial:
		return metrics.Partial
	}
	return metrics.Failure
}
