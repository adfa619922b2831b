package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/storage"
)

// proxy forwards TCP connections to the shared server until it is cut (the
// server goes away: connections reset, new ones refused) or stalled (the
// server stops answering: connections stay open, nothing is forwarded).
type proxy struct {
	l       net.Listener
	target  string
	mu      sync.Mutex
	conns   []net.Conn
	stalled chan struct{} // closed by stall
	stall   sync.Once
	closed  chan struct{} // closed by cut
	cutOnce sync.Once
	wg      sync.WaitGroup
}

func newProxy(t *testing.T) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: srv.Endpoint, stalled: make(chan struct{}), closed: make(chan struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(func() { p.cut(); p.wg.Wait() })
	return p
}

func (p *proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(up, c) })
		p.wg.Go(func() { p.pipe(c, up) })
	}
}

// pipe copies src to dst until either fails; once stalled it drops data
// and holds the connection open until cut.
func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-p.stalled:
			<-p.closed
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// cut closes the listener and every connection.
func (p *proxy) cut() {
	p.cutOnce.Do(func() {
		close(p.closed)
		p.l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
}

// stallNow stops forwarding.
func (p *proxy) stallNow() { p.stall.Do(func() { close(p.stalled) }) }

// proxiedStore is a store reaching the shared server through p, with short
// timeouts and one retry so failures show in seconds.
func proxiedStore(t *testing.T, p *proxy, prefix string) *Store {
	cfg := testConfig(srv.Bucket, prefix)
	cfg.Endpoint = p.l.Addr().String()
	cfg.MaxRetries = 2
	cfg.IdleTimeout = time.Second
	cfg.ResponseHeaderTimeout = 2 * time.Second
	cfg.CallTimeout = 3 * time.Second
	return newStore(t, cfg)
}

// triggerAt returns a reader of n zero bytes that calls f once it has
// yielded at bytes.
func triggerAt(n, at int, f func()) io.Reader {
	r := bytes.NewReader(make([]byte, n))
	var once sync.Once
	return readerFunc(func(p []byte) (int, error) {
		if int(r.Size())-r.Len() >= at {
			once.Do(f)
		}
		return r.Read(p[:min(len(p), 64<<10)])
	})
}

func TestServerGoneOrSilentMidPut(t *testing.T) {
	for _, mode := range []string{"gone", "silent"} {
		t.Run(mode, func(t *testing.T) {
			p := newProxy(t)
			s := proxiedStore(t, p, "proxy-put")
			f := p.cut
			if mode == "silent" {
				f = p.stallNow
			}
			key := "proxy/" + mode
			r := triggerAt(3*MinPartSize, MinPartSize+MinPartSize/2, f)
			start := time.Now()
			err := within(t, time.Minute, "Put", func() error {
				_, err := s.Put(context.Background(), key, r)
				return err
			})
			t.Logf("Put failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
			if err == nil {
				t.Fatal("Put succeeded though the server went away")
			}
			direct := newStore(t, testConfig(srv.Bucket, "proxy-put"))
			if _, err := direct.Stat(context.Background(), key); err == nil {
				t.Errorf("the interrupted Put left an object")
			}
			cleanUploads(t, "proxy-put/"+key)
		})
	}
}

// cleanUploads aborts multipart uploads of name that a cut connection kept
// the store from aborting, so they do not linger in the shared bucket.
func cleanUploads(t *testing.T, name string) {
	t.Helper()
	if err := rawClient(t).RemoveIncompleteUpload(context.Background(), srv.Bucket, name); err != nil {
		t.Errorf("remove incomplete upload: %v", err)
	}
}

// TestServerGoneOrSilentMidList lists more than one page (1000 keys) and
// takes the server away during the first callback: the next page fails.
func TestServerGoneOrSilentMidList(t *testing.T) {
	const n = 1001
	seedKeys(t, "proxy-list/", n)
	for _, mode := range []string{"gone", "silent"} {
		t.Run(mode, func(t *testing.T) {
			p := newProxy(t)
			s := proxiedStore(t, p, "proxy-list")
			seen := 0
			start := time.Now()
			err := within(t, time.Minute, "List", func() error {
				return s.List(context.Background(), "", func(storage.Object) error {
					if seen++; seen == 1 {
						if mode == "gone" {
							p.cut()
						} else {
							p.stallNow()
						}
					}
					return nil
				})
			})
			t.Logf("List failed after %v and %d keys: %v", time.Since(start).Round(time.Millisecond), seen, err)
			if err == nil || seen >= n {
				t.Errorf("List = %v after %d keys; want an error before the second page", err, seen)
			}
		})
	}
}

// seedKeys writes n empty objects under prefix with the raw client, and
// removes them when the test ends.
func seedKeys(t *testing.T, prefix string, n int) {
	t.Helper()
	c := rawClient(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				key := fmt.Sprintf("%s%05d", prefix, i)
				if _, err := c.PutObject(ctx, srv.Bucket, key, bytes.NewReader(nil), 0, minio.PutObjectOptions{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		objects := c.ListObjects(ctx, srv.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
		for e := range c.RemoveObjects(ctx, srv.Bucket, objects, minio.RemoveObjectsOptions{}) {
			t.Errorf("remove %s: %v", e.ObjectName, e.Err)
		}
	})
}

// TestServerSilentMidGet stalls the server while a Get body is read: the
// read fails after the idle timeout instead of blocking.
func TestServerSilentMidGet(t *testing.T) {
	direct := newStore(t, testConfig(srv.Bucket, ""))
	ctx := context.Background()
	const key = "proxy/get"
	if _, err := direct.Put(ctx, key, bytes.NewReader(make([]byte, 40<<20))); err != nil {
		t.Fatal(err)
	}
	defer direct.Delete(ctx, key)
	p := newProxy(t)
	s := proxiedStore(t, p, "")
	rc, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	p.stallNow()
	err = within(t, time.Minute, "reading Get", func() error {
		_, err := io.Copy(io.Discard, rc)
		return err
	})
	t.Logf("read after stall: %v", err)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("read of a stalled body = %v; want a timeout", err)
	}
}
