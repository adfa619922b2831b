package s3

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"mbackup/internal/stall"
)

// newTransport returns the HTTP transport of a store: minio-go's defaults
// (no transparent gzip, TLS 1.2 or later) with the timeouts of cfg, and
// connections that fail after cfg.IdleTimeout without any traffic while a
// read or a write is pending.
func newTransport(cfg Config) *http.Transport {
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return newIdleConn(c, cfg.IdleTimeout), nil
		},
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   16,
		TLSHandshakeTimeout:   cfg.TLSHandshakeTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: 10 * time.Second,
		// A pooled connection is closed before its idle deadline can fail it.
		IdleConnTimeout:    min(time.Minute, cfg.IdleTimeout/2),
		DisableCompression: true,
	}
	if !cfg.DisableTLS {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return tr
}

// idleConn is a connection watched by a stall.Watchdog: while a Read or a
// Write is pending, one of them must move bytes at least every timeout, or
// the connection's deadline is set in the past, which fails the blocked
// calls with a timeout and every later one. A peer that stops answering,
// or stops reading an upload, fails the blocked call after timeout; a slow
// but moving transfer never does, since traffic either way is progress.
// (The transport keeps a Read pending while it writes a request body, so
// reads alone would fail long uploads.)
type idleConn struct {
	net.Conn
	wd *stall.Watchdog
}

func newIdleConn(c net.Conn, timeout time.Duration) net.Conn {
	expire := func(error) { _ = c.SetDeadline(time.Unix(1, 0)) }
	return &idleConn{Conn: c, wd: stall.New(timeout, expire, nil)}
}

// Read reads under the watchdog.
func (c *idleConn) Read(p []byte) (int, error) {
	c.wd.Enter()
	defer c.wd.Leave()
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.wd.Progress()
	}
	return n, err
}

// Write writes under the watchdog.
func (c *idleConn) Write(p []byte) (int, error) {
	c.wd.Enter()
	defer c.wd.Leave()
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.wd.Progress()
	}
	return n, err
}

// Close stops the watchdog and closes the connection.
func (c *idleConn) Close() error {
	c.wd.Stop()
	return c.Conn.Close()
}
