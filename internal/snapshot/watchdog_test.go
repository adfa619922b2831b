package snapshot

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestStalledProducerIsKilled: a producer that stops itself (SIGSTOP) is
// killed by the watchdog and fails its artifact naming the stall; the
// other job is committed.
func TestStalledProducerIsKilled(t *testing.T) {
	tk, _ := newTaker(t)
	// The timeout watches the other job too: 2 s, not less, lets a loaded
	// machine start seq before it counts as stalled.
	tk.StallTimeout = 2 * time.Second
	m, err := tk.Take(context.Background(), []Job{
		{Component: "postgres", Name: "stopped", Ext: ".dump", Produce: shell("echo started; kill -STOP $$; echo never")},
		{Component: "redis", Name: "main", Ext: ".rdb", Produce: shell("seq 1 1000")},
	})
	if !errors.Is(err, ErrPartial) || m == nil || len(m.Artifacts) != 1 || len(m.Failed) != 1 {
		t.Fatalf("Take: %v, %+v", err, m)
	}
	if r := m.Failed[0].Reason; !strings.Contains(r, "stalled") || !strings.Contains(r, "wrote nothing for 2s") {
		t.Errorf("reason %q", r)
	}
}

// TestBlockedWriteIsNotAStall: a write held back for longer than the
// timeout (the store is slow) does not count; silence afterwards does.
func TestBlockedWriteIsNotAStall(t *testing.T) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	wd, stop := watch(pw, 200*time.Millisecond, cancel)
	defer stop()
	go func() {
		time.Sleep(time.Second) // the store takes its time
		io.Copy(io.Discard, pr)
	}()
	if _, err := wd.Write([]byte("held back for a second")); err != nil {
		t.Fatal(err)
	}
	if err := context.Cause(ctx); err != nil {
		t.Fatalf("a blocked write was taken for a stall: %v", err)
	}
	select {
	case <-ctx.Done():
		if !errors.Is(context.Cause(ctx), ErrStalled) {
			t.Errorf("cause %v", context.Cause(ctx))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("silence after the write never counted as a stall")
	}
}
