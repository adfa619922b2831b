package mediasync

import (
	"context"
	"errors"
	"testing"

	"mbackup/internal/storage"
)

// TestInterruptedFirstCopyResumes cancels a first copy halfway (as SIGTERM
// does) and runs again: what the first run stored is adopted by size, not
// copied again, and nothing is downloaded twice.
func TestInterruptedFirstCopyResumes(t *testing.T) {
	const n = 120
	c, bucket := newBucket(t)
	want := seedSmall(t, c, bucket, n)
	p := newCountingProxy(t, nil)
	st, err := newLocalDir(t)
	if err != nil {
		t.Fatal(err)
	}
	o := opts(p.limitedClient(t, NewLimiter(100)), bucket, st, nil)
	ctx, cancel := context.WithCancel(context.Background())
	o.Progress = func(c Counts) {
		if c.Copied >= n/2 {
			cancel()
		}
	}
	first, err := Mirror(ctx, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v (%+v)", err, first.Counts)
	}
	stored := 0
	if err := st.List(context.Background(), "media/", func(storage.Object) error { stored++; return nil }); err != nil {
		t.Fatal(err)
	}
	if hasIndex(t, st) {
		t.Error("the interrupted run wrote an index")
	}
	p.take()
	o.Progress = nil
	second := mirror(t, o)
	gets := p.take()["GET"]
	t.Logf("first run copied %d (%d stored), second: %+v, %d GETs", first.Copied, stored, second.Counts, gets)
	if stored == 0 || stored == n {
		t.Fatalf("%d of %d objects stored by the interrupted run: not interrupted halfway", stored, n)
	}
	if second.Adopted != int64(stored) || second.Copied != int64(n-stored) || gets != n-stored {
		t.Errorf("second run adopted %d, copied %d with %d GETs; want %d adopted, %d copied and fetched",
			second.Adopted, second.Copied, gets, stored, n-stored)
	}
	sameContent(t, storeContent(t, st, "media/"), want)
}
