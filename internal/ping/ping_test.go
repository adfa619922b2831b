package ping

import (
	"context"
	"io"
	"mbackup/internal/buildinfo"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// request is what the monitor received.
type request struct {
	method, path, contentType, agent, body string
}

// monitor is an httptest server that records every request and answers
// with status(path), or hangs until the test ends when status returns 0.
type monitor struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newMonitor(t *testing.T, status func(path string, n int) int) *monitor {
	t.Helper()
	m := &monitor{}
	hang := make(chan struct{})
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		m.mu.Lock()
		m.reqs = append(m.reqs, request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("User-Agent"), string(b)})
		n := len(m.reqs)
		m.mu.Unlock()
		code := status(r.URL.Path, n)
		if code == 0 {
			<-hang
			return
		}
		w.WriteHeader(code)
		io.WriteString(w, "OK")
	}))
	t.Cleanup(func() { close(hang); m.Close() }) // in this order: Close waits for a hung handler
	return m
}

func (m *monitor) requests() []request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]request(nil), m.reqs...)
}

func ok(string, int) int { return 200 }

func newPinger(t *testing.T, c Config) *Pinger {
	t.Helper()
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPaths: start, success and fail go to URL/start, URL and URL/fail,
// POSTed as plain text with the version in the user agent; a task without
// a URL sends nothing; a trailing slash makes no double slash.
func TestPaths(t *testing.T) {
	m := newMonitor(t, ok)
	p := newPinger(t, Config{URLs: map[string]string{"backup": m.URL + "/uuid-1", "mirror": m.URL + "/uuid-2/"}, UserAgent: "mbackup/v9"})
	ctx := context.Background()
	for _, err := range []error{
		p.Start(ctx, "backup"), p.Success(ctx, "backup", "all good"),
		p.Start(ctx, "mirror"), p.Fail(ctx, "mirror", "it broke"),
		p.Start(ctx, "verify"), p.Fail(ctx, "verify", "no URL"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []request{
		{"POST", "/uuid-1/start", "text/plain; charset=utf-8", "mbackup/v9", ""},
		{"POST", "/uuid-1", "text/plain; charset=utf-8", "mbackup/v9", "all good"},
		{"POST", "/uuid-2/start", "text/plain; charset=utf-8", "mbackup/v9", ""},
		{"POST", "/uuid-2/fail", "text/plain; charset=utf-8", "mbackup/v9", "it broke"},
	}
	got := m.requests()
	if len(got) != len(want) {
		t.Fatalf("requests: %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	var nilPinger *Pinger
	if err := nilPinger.Success(ctx, "backup", "x"); err != nil || nilPinger.Has("backup") {
		t.Errorf("a nil pinger: %v", err)
	}
}

// TestDefaultUserAgent: without one, the user agent names mbackup and a
// version.
func TestDefaultUserAgent(t *testing.T) {
	m := newMonitor(t, ok)
	p := newPinger(t, Config{URLs: map[string]string{"backup": m.URL + "/u"}})
	if err := p.Start(context.Background(), "backup"); err != nil {
		t.Fatal(err)
	}
	if a := m.requests()[0].agent; !strings.HasPrefix(a, "mbackup/") || len(a) <= len("mbackup/") {
		t.Errorf("user agent %q", a)
	}
}

// TestStampedUserAgent: a release build's stamped version is the one the
// user agent names, not the module's "devel".
func TestStampedUserAgent(t *testing.T) {
	old := buildinfo.StampedVersion
	buildinfo.StampedVersion = "v1.2.3"
	t.Cleanup(func() { buildinfo.StampedVersion = old })
	m := newMonitor(t, ok)
	p := newPinger(t, Config{URLs: map[string]string{"backup": m.URL + "/u"}})
	if err := p.Start(context.Background(), "backup"); err != nil {
		t.Fatal(err)
	}
	if a := m.requests()[0].agent; a != "mbackup/v1.2.3" {
		t.Errorf("user agent %q, want mbackup/v1.2.3", a)
	}
}

// TestBodyRedacted: neither a configured secret, nor a ping URL, nor a URL
// password placed in the summary reaches the monitor.
func TestBodyRedacted(t *testing.T) {
	m := newMonitor(t, ok)
	hook := m.URL + "/f00d-ping-uuid"
	p := newPinger(t, Config{URLs: map[string]string{"backup": hook}, Secrets: []string{"hunter2-secret"}})
	summary := "redis/main: NOAUTH hunter2-secret\npostgres: redis://:pa55word@10.0.0.5:6379 failed\nping " + hook + "/fail\nmastodon_production 1 GiB"
	if err := p.Fail(context.Background(), "backup", summary); err != nil {
		t.Fatal(err)
	}
	b := m.requests()[0].body
	for _, secret := range []string{"hunter2", "pa55word", "f00d-ping-uuid"} {
		if strings.Contains(b, secret) {
			t.Errorf("body holds %q:\n%s", secret, b)
		}
	}
	if !strings.Contains(b, "mastodon_production 1 GiB") || !strings.Contains(b, "[redacted]") {
		t.Errorf("body:\n%s", b)
	}
}

// TestBodyCut: a body over MaxBody bytes is cut at a UTF-8 boundary and
// ends with "…"; one of MaxBody bytes is sent whole; a secret across the
// cut leaves no piece of itself.
func TestBodyCut(t *testing.T) {
	secret := "correct-horse-battery-staple"
	for _, c := range []struct {
		name string
		text string
		cut  bool
	}{
		{"empty", "", false},
		{"MaxBody-1", strings.Repeat("a", MaxBody-1), false},
		{"MaxBody", strings.Repeat("a", MaxBody), false},
		{"MaxBody+1", strings.Repeat("a", MaxBody+1), true},
		{"runes across the cut", strings.Repeat("é", MaxBody), true},
		{"four-byte runes", "x" + strings.Repeat("😀", MaxBody/2), true},
		{"a secret across the cut", strings.Repeat("a", MaxBody-10) + secret + strings.Repeat("b", 100), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newMonitor(t, ok)
			p := newPinger(t, Config{URLs: map[string]string{"backup": m.URL + "/u"}, Secrets: []string{secret}})
			if err := p.Success(context.Background(), "backup", c.text); err != nil {
				t.Fatal(err)
			}
			b := m.requests()[0].body
			switch {
			case len(b) > MaxBody || !utf8.ValidString(b):
				t.Errorf("%d bytes, valid UTF-8 %v", len(b), utf8.ValidString(b))
			case c.cut && (!strings.HasSuffix(b, "…") || len(b) < MaxBody-6):
				t.Errorf("cut to %d bytes ending %q", len(b), b[max(0, len(b)-8):])
			case !c.cut && b != c.text:
				t.Errorf("sent %d bytes of %d", len(b), len(c.text))
			}
			for i := 6; i <= len(secret); i++ {
				if strings.Contains(b, secret[:i]) {
					t.Fatalf("body holds %q", secret[:i])
				}
			}
		})
	}
}

// TestFailures: a 4xx answer fails at once; a 5xx is retried once after a
// second and a second 5xx fails; a refused connection fails; a 5xx then 2xx
// succeeds. No error quotes the URL.
func TestFailures(t *testing.T) {
	refused := closedURL(t)
	for _, c := range []struct {
		name     string
		status   func(string, int) int
		url      string
		wantErr  string
		requests int
	}{
		{"404", func(string, int) int { return 404 }, "", "ping: backup: the monitor answered 404", 1},
		{"500 twice", func(string, int) int { return 500 }, "", "ping: backup: the monitor answered 500", 2},
		{"500 then 200", func(_ string, n int) int { return map[bool]int{true: 500, false: 200}[n == 1] }, "", "", 2},
		{"refused", nil, refused, "connection refused", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var m *monitor
			u := c.url
			if c.status != nil {
				m = newMonitor(t, c.status)
				u = m.URL + "/secret-uuid"
			}
			p := newPinger(t, Config{URLs: map[string]string{"backup": u}, Timeout: 5 * time.Second})
			begin := time.Now()
			err := p.Success(context.Background(), "backup", "done")
			took := time.Since(begin)
			switch {
			case c.wantErr == "" && err != nil, c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v, want %q", err, c.wantErr)
			case err != nil && (strings.Contains(err.Error(), "secret-uuid") || strings.Contains(err.Error(), u)):
				t.Errorf("the error quotes the URL: %v", err)
			case m != nil && len(m.requests()) != c.requests:
				t.Errorf("%d requests, want %d", len(m.requests()), c.requests)
			case c.requests == 2 && took < RetryDelay:
				t.Errorf("retried after %s, want %s", took, RetryDelay)
			}
			t.Logf("%s: %v in %s", c.name, err, took.Round(time.Millisecond))
		})
	}
}

// TestHangBounded: a monitor that never answers costs a ping its timeout,
// within a factor, and no retry; a cancelled context ends it sooner.
func TestHangBounded(t *testing.T) {
	m := newMonitor(t, func(string, int) int { return 0 })
	const timeout = 200 * time.Millisecond
	p := newPinger(t, Config{URLs: map[string]string{"backup": m.URL + "/u"}, Timeout: timeout})
	begin := time.Now()
	err := p.Start(context.Background(), "backup")
	took := time.Since(begin)
	if err == nil || !strings.Contains(err.Error(), "ping: backup start:") || took > 5*timeout {
		t.Errorf("%v after %s", err, took)
	}
	if n := len(m.requests()); n != 1 {
		t.Errorf("%d requests", n)
	}
	p = newPinger(t, Config{URLs: map[string]string{"backup": m.URL + "/u"}, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	begin = time.Now()
	err = p.Start(ctx, "backup")
	if took := time.Since(begin); err == nil || took > 5*timeout {
		t.Errorf("with a cancelled context: %v after %s", err, took)
	}
	t.Logf("a hung monitor: %s with a timeout of %s", took.Round(time.Millisecond), timeout)
}

// TestNewRefuses: bad URLs and timeouts are refused, naming the task and
// never the URL.
func TestNewRefuses(t *testing.T) {
	for _, c := range []struct {
		url, want string
	}{
		{"hc-ping.com/secret", "ping: backup url: must be an http:// or https:// URL"},
		{"ftp://hc-ping.com/secret", "ping: backup url: must be an http:// or https:// URL"},
		{"https:///secret", "ping: backup url: needs a host"},
		{"https://hc-ping.com/secret?x=1", "ping: backup url: must not hold a query"},
		{"https://hc-ping.com/secret?", "ping: backup url: must not hold a query"},
		{"https://hc-ping.com/secret#x", "ping: backup url: must not hold a fragment"},
		{"https://hc-ping.com/secret\x7f", "ping: backup url: not a URL"},
	} {
		_, err := New(Config{URLs: map[string]string{"backup": c.url}})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: %v, want %q", c.url, err, c.want)
		}
	}
	if _, err := New(Config{Timeout: -time.Second}); err == nil {
		t.Error("a negative timeout was accepted")
	}
}

// closedURL is the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/secret-uuid"
}
