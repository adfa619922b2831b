package task

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/storage/local"
)

// TestDaemonReloadLogsSchedules: a reload logs "configuration reloaded"
// with the new schedules and their next runs, not "daemon started" again;
// a schedule left unset is left out of the line.
func TestDaemonReloadLogsSchedules(t *testing.T) {
	td := startTestDaemon(t, t.TempDir())
	started := regexp.MustCompile(`msg="daemon started" backup="@every 1h" next_backup=\S+Z?\S*\n`)
	td.waitFor(t, "the start line", func() bool { return started.MatchString(td.log.String()) })
	next := *td.cfg
	next.Schedule.Backup = "@every 2h"
	next.Schedule.Verify = "@every 3h"
	td.ops.Load = func() (*config.Config, error) { return &next, nil }
	td.Reload(context.Background())
	log := td.log.String()
	reloaded := regexp.MustCompile(`msg="configuration reloaded" backup="@every 2h" next_backup=\d{4}-\S+ verify="@every 3h" next_verify=\d{4}-\S+\n`)
	if !reloaded.MatchString(log) {
		t.Errorf("no reload line with the new schedules:\n%s", log)
	}
	if n := strings.Count(log, `"daemon started"`); n != 1 {
		t.Errorf(`"daemon started" logged %d times:\n%s`, n, log)
	}
	for _, unset := range []string{"metrics=", "drill=", "mirror="} {
		if strings.Contains(log, unset) {
			t.Errorf("an unset schedule in the log, %s:\n%s", unset, log)
		}
	}
}

// TestReportLogsNoZeroTime: a one-shot run has no next run; its log line
// leaves the attribute out rather than print 0001-01-01.
func TestReportLogsNoZeroTime(t *testing.T) {
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var b syncBuffer
	log := slog.New(slog.NewTextHandler(&b, nil))
	r := Outcome{Task: Backup, Started: time.Now()}
	if err := Report(context.Background(), log, &config.Config{Host: "test"}, s, r, false, ""); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `msg="run finished" job=backup result=success duration=`) {
		t.Fatalf("no run line:\n%s", b.String())
	}
	checkLog(t, b.String())
	if strings.Contains(b.String(), " next=") {
		t.Errorf("an unknown next run in the log:\n%s", b.String())
	}
}
