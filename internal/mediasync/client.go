package mediasync

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// NewSourceClient returns a minio-go client for an S3 endpoint (host:port)
// with bounded dial, TLS and response-header timeouts, so that a silent
// server fails a call instead of hanging the run. Whether plain HTTP is
// acceptable for the host is the caller's rule. Setting region avoids a
// GetBucketLocation round trip; empty means "us-east-1".
func NewSourceClient(endpoint string, secure bool, region, keyID, secret string) (*minio.Client, error) {
	return NewLimitedSourceClient(endpoint, secure, region, keyID, secret, nil)
}

// NewLimitedSourceClient is NewSourceClient with every request, minio-go's
// retries included, sent through l (see Limiter); nil does not limit.
func NewLimitedSourceClient(endpoint string, secure bool, region, keyID, secret string, l *Limiter) (*minio.Client, error) {
	if region == "" {
		region = "us-east-1"
	}
	var tr http.RoundTripper = SourceTransport(secure)
	if l != nil {
		tr = limitedTransport{l: l, next: tr}
	}
	c, err := minio.New(endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(keyID, secret, ""),
		Secure:    secure,
		Region:    region,
		Transport: tr,
	})
	if err != nil {
		return nil, fmt.Errorf("mediasync: source client: %w", err)
	}
	return c, nil
}

// SourceTransport is the HTTP transport NewSourceClient uses: bounded dial,
// TLS (1.2 or later) and response-header timeouts, no compression (sizes
// must match the listing byte for byte).
func SourceTransport(secure bool) *http.Transport {
	dialer := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: 10 * time.Second,
		DisableCompression:    true,
	}
	if secure {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return tr
}
