package s3

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// newTransport returns the HTTP transport of a store: minio-go's defaults
// (no transparent gzip, TLS 1.2 or later) with the timeouts of cfg, and
// connections that fail after cfg.IdleTimeout without any traffic.
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

// idleConn is a connection whose every Read and Write pushes the deadline of
// both directions timeout into the future. A peer that stops answering, or
// stops reading an upload, fails the blocked call after timeout; a slow but
// moving transfer never does, since traffic either way extends it. (The
// transport keeps a Read pending while it writes a request body, so a
// read-only deadline would fail long uploads.)
type idleConn struct {
	net.Conn
	timeout time.Duration
}

func newIdleConn(c net.Conn, timeout time.Duration) net.Conn {
	return &idleConn{Conn: c, timeout: timeout}
}

// Read reads with the deadline extended.
func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// Write writes with the deadline extended.
func (c *idleConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
