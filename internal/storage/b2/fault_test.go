package b2

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"mbackup/internal/b2test"
	"mbackup/internal/storage"
)

// Timeouts of the fault tests: short, so a test waits seconds, not minutes.
const (
	testStall = 3 * time.Second
	testCall  = 2 * time.Second
)

func shortTimeouts(c *Config) {
	c.StallTimeout = testStall
	c.CallTimeout = testCall
}

// loadFactor is how late a watchdog may fire on a busy machine under the
// race detector: a factor, never a percentage. Without the watchdog the
// hung call would last until the test's own deadline, so five times the
// bound still tells a bounded call from an unbounded one.
const loadFactor = 5

// within fails unless elapsed is at most loadFactor times bound.
func within(t *testing.T, what string, elapsed, bound time.Duration) {
	t.Helper()
	t.Logf("%s: failed after %v (bound %v, limit %v)", what, elapsed.Round(time.Millisecond), bound, loadFactor*bound)
	if elapsed > loadFactor*bound {
		t.Errorf("%s took %v; want at most %d times %v", what, elapsed, loadFactor, bound)
	}
}

// countNames counts logged requests of method about name.
func countNames(srv *b2test.Server, method, name string) (n int, statuses []int) {
	for _, r := range srv.Requests() {
		if r.Method == method && (name == "" || r.Name == name) {
			n++
			statuses = append(statuses, r.Status)
		}
	}
	return n, statuses
}

func TestUploadStormThatEnds(t *testing.T) {
	srv, s := newStore(t, shortTimeouts)
	for _, tc := range []struct {
		method string
		size   int
		calls  int // requests of method without faults
	}{
		{"b2_upload_part", 3*testChunk + 1, 4},
		{"b2_upload_file", 1000, 1},
	} {
		t.Run(tc.method, func(t *testing.T) {
			key := "storm/" + tc.method
			srv.Inject(tc.method, b2test.Fault{Status: 503, Times: 5})
			defer srv.ClearFaults()
			start := time.Now()
			want := data(7, tc.size)
			mustPut(t, s, key, want)
			n, statuses := countNames(srv, tc.method, "")
			t.Logf("%s: Put of %d bytes took %v with %d requests %v", tc.method, tc.size, time.Since(start).Round(time.Millisecond), n, statuses)
			if n != tc.calls+5 {
				t.Errorf("%d %s requests; want %d answered and 5 retried", n, tc.method, tc.calls)
			}
			if err := s.Delete(context.Background(), key); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestUploadRetriesExhausted(t *testing.T) {
	srv, s := newStore(t, func(c *Config) {
		shortTimeouts(c)
		c.UploadRetries = 4
	})
	srv.Inject("b2_upload_file", b2test.Fault{Status: 503})
	start := time.Now()
	_, err := s.Put(context.Background(), "forever503", bytes.NewReader([]byte("x")))
	if !errors.Is(err, ErrRetriesExhausted) {
		t.Fatalf("Put under a permanent 503 = %v; want ErrRetriesExhausted", err)
	}
	n, _ := countNames(srv, "b2_upload_file", "")
	t.Logf("gave up after %v and %d b2_upload_file requests: %v", time.Since(start).Round(time.Millisecond), n, err)
	if n != 5 {
		t.Errorf("%d upload requests; want 1 + 4 retries (blazer alone re-sends in a hot loop)", n)
	}
}

func TestHangingUploadHost(t *testing.T) {
	for _, tc := range []struct {
		method string
		size   int
	}{
		{"b2_upload_file", 1000},
		{"b2_upload_part", 3*testChunk + 1},
	} {
		t.Run(tc.method, func(t *testing.T) {
			srv, s := newStore(t, shortTimeouts)
			src := data(3, tc.size)
			srv.Inject(tc.method, b2test.Fault{Hang: true})
			start := time.Now()
			_, err := s.Put(context.Background(), "hang", bytes.NewReader(src))
			end := time.Now()
			if !errors.Is(err, ErrStalled) {
				t.Fatalf("Put to a silent upload host = %v; want ErrStalled", err)
			}
			t.Logf("error: %v", err)
			// The stall starts once the hung request took what the socket
			// buffers hold; before that the upload made progress.
			hung := firstRequest(srv, tc.method)
			t.Logf("Put took %v, %v of them before the hung request arrived", end.Sub(start).Round(time.Millisecond), hung.Sub(start).Round(time.Millisecond))
			within(t, "Put after the hang began", end.Sub(hung), testStall)
			absent(t, srv, s, "hang")
			if u := srv.Unfinished(testBucket); len(u) != 0 {
				t.Errorf("%d unfinished large files left; want the failed one cancelled", len(u))
			}
			noLeaks(t)
			srv.ClearFaults()
			mustPut(t, s, "hang", src) // a fresh bucket handle, no broken URL
		})
	}
}

func TestRetryAfterAnHour(t *testing.T) {
	for _, method := range []string{"b2_upload_file", "b2_get_upload_url"} {
		t.Run(method, func(t *testing.T) {
			srv, s := newStore(t, shortTimeouts)
			srv.Inject(method, b2test.Fault{RetryAfter: 3600})
			start := time.Now()
			_, err := s.Put(context.Background(), "later", strings.NewReader("payload"))
			if !errors.Is(err, ErrStalled) {
				t.Fatalf("Put = %v; want ErrStalled", err)
			}
			within(t, "Put", time.Since(start), testStall)
			absent(t, srv, s, "later")
			noLeaks(t)
		})
	}
	t.Run("b2_list_file_names", func(t *testing.T) {
		srv, s := newStore(t, shortTimeouts)
		srv.Inject("b2_list_file_names", b2test.Fault{RetryAfter: 3600})
		start := time.Now()
		_, err := s.Stat(context.Background(), "later")
		if errors.Is(err, fs.ErrNotExist) || !errors.Is(err, errCallTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stat = %v; want a call timeout", err)
		}
		within(t, "Stat", time.Since(start), testCall)
	})
}

func TestCallTimeouts(t *testing.T) {
	srv, s := newStore(t, shortTimeouts)
	mustPut(t, s, "there", []byte("x"))
	ctx := context.Background()
	calls := []struct {
		method string
		name   string
		call   func() error
	}{
		{"b2_list_file_names", "Stat", func() error { _, err := s.Stat(ctx, "there"); return err }},
		{"b2_list_file_names", "Get", func() error { _, err := s.Get(ctx, "there"); return err }},
		{"b2_list_file_names", "List", func() error {
			return s.List(ctx, "", func(storage.Object) error { return nil })
		}},
		{"b2_list_file_versions", "Delete", func() error { return s.Delete(ctx, "there") }},
		{"b2_list_unfinished_large_files", "SweepUnfinished", func() error {
			_, err := s.SweepUnfinished(ctx, time.Hour)
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			srv.Inject(c.method, b2test.Fault{Hang: true})
			defer srv.ClearFaults()
			start := time.Now()
			err := c.call()
			if !errors.Is(err, errCallTimeout) {
				t.Fatalf("%s with %s unanswered = %v; want a call timeout", c.name, c.method, err)
			}
			within(t, c.name, time.Since(start), testCall)
		})
	}
	checkContent(t, s, "there", []byte("x"))
	noLeaks(t)
}

// firstRequest returns when the first request of method arrived.
func firstRequest(srv *b2test.Server, method string) time.Time {
	for _, r := range srv.Requests() {
		if r.Method == method {
			return r.Time
		}
	}
	return time.Time{}
}

// failingReader yields n bytes, then fails.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// cancelAt cancels a context once n bytes were read.
type cancelAt struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAt) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n -= n
	if c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func TestFailedPutLeavesNothing(t *testing.T) {
	srv, s := newStore(t, nil)
	died := errors.New("pg_dump exited with status 1")
	for _, size := range []int{1000, 2*testChunk + 3} {
		for _, how := range []string{"reader", "cancel"} {
			key := "failed/" + how
			var r io.Reader = &failingReader{r: bytes.NewReader(data(5, size)), err: died}
			ctx, cancel := context.WithCancel(context.Background())
			if how == "cancel" {
				r = &cancelAt{r: bytes.NewReader(data(5, size)), n: size * 3 / 4, cancel: cancel}
			}
			_, err := s.Put(ctx, key, r)
			cancel()
			switch {
			case how == "reader" && !errors.Is(err, died):
				t.Errorf("size %d: Put with a failing reader = %v; want its error", size, err)
			case how == "cancel" && !errors.Is(err, context.Canceled):
				t.Errorf("size %d: Put with a cancelled context = %v; want context.Canceled", size, err)
			case err != nil && !strings.HasPrefix(err.Error(), "b2: put "+key+": "):
				t.Errorf("error text %q", err)
			}
			absent(t, srv, s, key)
			if u := srv.Unfinished(testBucket); len(u) != 0 {
				t.Errorf("size %d, %s: %d unfinished large files left", size, how, len(u))
			}
			for _, m := range []string{"b2_upload_file", "b2_finish_large_file"} {
				if n, _ := countNames(srv, m, testPrefix+key); n != 0 {
					t.Errorf("size %d, %s: %d %s requests for a failed Put", size, how, n, m)
				}
			}
			noLeaks(t)
		}
	}
}

func TestSweepUnfinished(t *testing.T) {
	srv, s := newStore(t, nil)
	other, err := New(context.Background(), Config{KeyID: srv.KeyID, AppKey: srv.AppKey, Bucket: testBucket,
		Prefix: "other/", ChunkSize: testChunk, APIBase: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	// A Put that cannot cancel its large file leaves it to the sweeper.
	leave := func(st *Store, key string) {
		t.Helper()
		srv.Inject("b2_cancel_large_file", b2test.Fault{Status: 400})
		defer srv.ClearFaults()
		r := &failingReader{r: bytes.NewReader(data(1, testChunk+10)), err: io.ErrUnexpectedEOF}
		_, err := st.Put(context.Background(), key, r)
		if err == nil || !strings.Contains(err.Error(), "left for the sweeper") {
			t.Fatalf("Put = %v; want its large file left for the sweeper", err)
		}
	}
	srv.SetNow(func() time.Time { return time.Now().Add(-48 * time.Hour) })
	leave(s, "old")
	leave(other, "old-elsewhere")
	srv.SetNow(nil)
	leave(s, "young")
	n, err := s.SweepUnfinished(context.Background(), 24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("SweepUnfinished = %d, %v; want 1 cancelled", n, err)
	}
	var left []string
	for _, f := range srv.Unfinished(testBucket) {
		left = append(left, f.Name)
	}
	if strings.Join(left, ",") != "other/old-elsewhere,pfx/young" {
		t.Errorf("unfinished after the sweep: %q", left)
	}
}

func TestCutConnections(t *testing.T) {
	srv, s := newStore(t, shortTimeouts)
	for _, tc := range []struct {
		method string
		size   int
		cut    int64
	}{
		{"b2_upload_file", 100_000, 50_000},
		{"b2_upload_part", 2*testChunk + 1, 1_000_000},
		{"download", 2*testChunk + 1, 1_000_000},
	} {
		t.Run(tc.method, func(t *testing.T) {
			key := "cut/" + tc.method
			want := data(11, tc.size)
			srv.Inject(tc.method, b2test.Fault{CutAfter: tc.cut, Times: 2})
			defer srv.ClearFaults()
			mustPut(t, s, key, want)
			n, statuses := countNames(srv, tc.method, testPrefix+key)
			t.Logf("%d %s requests: %v", n, tc.method, statuses)
		})
	}
}

func TestSlowButMovingUpload(t *testing.T) {
	const (
		stall = 2 * time.Second
		chunk = 12_000_000
		rate  = 3_000_000
	)
	srv, s := newStore(t, func(c *Config) {
		c.StallTimeout = stall
		c.CallTimeout = stall
		c.ChunkSize = chunk
		c.ConcurrentUploads = 1
	})
	// Each part takes 4 s, twice the stall timeout, but bytes keep moving,
	// so the watchdog lets it go on. (The socket buffers hold a few MB that
	// drain after the last body read, so the drip must drain them within
	// the stall timeout.)
	srv.Inject("b2_upload_part", b2test.Fault{DripBytesPerSec: rate})
	start := time.Now()
	mustPut(t, s, "slow", data(12, chunk+1))
	t.Logf("Put of %d bytes at %d B/s took %v with a %v stall timeout", chunk+1, rate, time.Since(start).Round(time.Millisecond), stall)
}

func TestTransferDeadlines(t *testing.T) {
	const whole = 1500 * time.Millisecond
	srv, s := newStore(t, func(c *Config) {
		shortTimeouts(c)
		c.UploadTimeout = whole
		c.DownloadTimeout = whole
	})
	src := data(13, testChunk+1)
	// A second store on the same bucket, with only the stall timeout short.
	// It stores the object the others read: on a loaded machine its upload
	// may take longer than the short whole-transfer deadline under test.
	stalling, err := New(context.Background(), Config{KeyID: srv.KeyID, AppKey: srv.AppKey, Bucket: testBucket,
		Prefix: testPrefix, ChunkSize: testChunk, StallTimeout: testStall, APIBase: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer stalling.Close()
	mustPut(t, stalling, "there", src)
	reader := func(s *Store) func() error {
		return func() error {
			rc, err := s.Get(context.Background(), "there")
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(io.Discard, rc)
			return err
		}
	}
	read := reader(s)
	for _, tc := range []struct {
		name   string
		method string
		fault  b2test.Fault
		call   func() error
		want   error
		bound  time.Duration
	}{
		{"UploadTimeout", "b2_upload_part", b2test.Fault{DripBytesPerSec: 1_000_000},
			func() error { _, err := s.Put(context.Background(), "slow", bytes.NewReader(src)); return err },
			errUploadTimeout, whole},
		{"DownloadTimeout", "download", b2test.Fault{DripBytesPerSec: 1_000_000}, read, errDownloadTimeout, whole},
		{"DownloadStall", "download", b2test.Fault{Hang: true}, reader(stalling), ErrStalled, testStall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Inject(tc.method, tc.fault)
			defer srv.ClearFaults()
			start := time.Now()
			err := tc.call()
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v; want %v", err, tc.want)
			}
			t.Logf("error: %v", err)
			within(t, tc.name, time.Since(start), tc.bound)
		})
	}
	absent(t, srv, s, "slow")
	noLeaks(t)
}
