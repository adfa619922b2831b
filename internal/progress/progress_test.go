package progress

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"mbackup/internal/dump"
	"mbackup/internal/snapshot"
)

func TestProgressCountsActiveArtifacts(t *testing.T) {
	var screen bytes.Buffer
	p := New()
	written, release := make(chan struct{}), make(chan struct{})
	js := []snapshot.Job{{Component: "postgres", Name: "mastodon", Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) {
		w.Write(make([]byte, 3000))
		close(written)
		<-release
		return dump.Info{}, nil
	}}}
	p.Wrap(js)
	done := make(chan error)
	go func() { _, err := js[0].Produce(context.Background(), io.Discard); done <- err }()
	<-written
	if line := p.Line(); !strings.Contains(line, "postgres/mastodon 2.9 KiB") {
		t.Errorf("progress line %q", line)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if line := p.Line(); line != "" {
		t.Errorf("progress line after the artifact ended: %q", line)
	}
	if IsTerminal(&screen) {
		t.Error("a buffer is not a terminal")
	}
}

// TestWrapKeepsWhatIsWritten: the producer's bytes, count and error pass
// through unchanged; a job without a producer stays without one.
func TestWrapKeepsWhatIsWritten(t *testing.T) {
	boom := errors.New("boom")
	js := []snapshot.Job{
		{Component: "redis", Name: "main", Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) {
			n, err := w.Write([]byte("REDIS0011"))
			if n != 9 || err != nil {
				t.Errorf("write through the meter: %d, %v", n, err)
			}
			return dump.Info{ServerVersion: "7"}, boom
		}},
		{Component: "postgres", Name: "server", Err: boom},
	}
	New().Wrap(js)
	var out bytes.Buffer
	info, err := js[0].Produce(context.Background(), &out)
	if out.String() != "REDIS0011" || info.ServerVersion != "7" || !errors.Is(err, boom) {
		t.Errorf("through the meter: %q, %+v, %v", out.String(), info, err)
	}
	if js[1].Produce != nil {
		t.Error("a job without a producer got one")
	}
}

// lockedBuffer is a bytes.Buffer safe for the drawing goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDrawClearsTheLine: the line is redrawn in place while an artifact
// is produced, and stop clears it and draws nothing after.
func TestDrawClearsTheLine(t *testing.T) {
	m := New()
	written, release := make(chan struct{}), make(chan struct{})
	js := []snapshot.Job{{Component: "mysql", Name: "blog", Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) {
		w.Write(make([]byte, 100))
		close(written)
		<-release
		return dump.Info{}, nil
	}}}
	m.Wrap(js)
	done := make(chan struct{})
	go func() { js[0].Produce(context.Background(), io.Discard); close(done) }()
	// The start's draw is pending (poked before Draw runs) and must come
	// after the write: drawn earlier, it would show 0 B until the hour
	// is up.
	<-written
	var screen lockedBuffer
	stop := m.Draw(NewTerminal(&screen), time.Hour) // drawn at the start and at the end of the artifact
	for !strings.Contains(screen.String(), "\r\033[Kmysql/blog 100 B ") {
		time.Sleep(time.Millisecond)
	}
	stop()
	close(release)
	<-done
	after := screen.String()
	if !strings.HasSuffix(after, "\r\033[K") {
		t.Errorf("the line was not cleared: %q", after[max(0, len(after)-40):])
	}
	time.Sleep(10 * time.Millisecond)
	if screen.String() != after {
		t.Error("drawn after stop")
	}
}
