package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strings"

	"filippo.io/age"

	"mbackup/internal/config"
	"mbackup/internal/lock"
	"mbackup/internal/storage"
	"mbackup/internal/storage/b2"
	"mbackup/internal/storage/local"
	"mbackup/internal/storage/s3"
)

// configError marks a configuration that cannot be used: exit 2.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// loadConfig loads e.configPath, printing its warnings. A SIGTERM or
// Ctrl-C while it loads (a file on a hung network mount, say) returns at
// once: the load goes on in the background and its result is dropped.
func (e *env) loadConfig() (*config.Config, error) {
	type loaded struct {
		cfg      *config.Config
		warnings []config.Warning
		err      error
	}
	done := make(chan loaded, 1)
	go func() {
		cfg, warnings, err := config.Load(e.configPath)
		done <- loaded{cfg, warnings, err}
	}()
	var l loaded
	select {
	case l = <-done:
	case <-e.ctx.Done():
		return nil, fmt.Errorf("config: load %s: %w", e.configPath, e.ctx.Err())
	}
	cfg, warnings, err := l.cfg, l.warnings, l.err
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "mbackup: warning: %s\n", w)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w (give one with --config FILE or $MBACKUP_CONFIG; mbackup quickstart writes a first one)", err)
		}
		return nil, &configError{err}
	}
	return cfg, nil
}

// logger logs to stderr: debug lines with -v.
func (e *env) logger() *slog.Logger {
	level := slog.LevelInfo
	if e.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
}

// openStore opens the configured store.
func openStore(ctx context.Context, c config.Storage) (storage.Store, error) {
	switch c.Type {
	case config.StorageLocal:
		return local.New(c.Path)
	case config.StorageB2:
		return b2.New(ctx, b2.Config{
			KeyID: c.KeyID, AppKey: c.ApplicationKey.Reveal(), Bucket: c.Bucket, Prefix: c.Prefix,
			ChunkSize: int(c.ChunkSize), ConcurrentUploads: c.ConcurrentUploads,
			CallTimeout: c.CallTimeout.Std(), StallTimeout: c.StallTimeout.Std(), UploadTimeout: c.UploadTimeout.Std(),
			APIBase: strings.TrimSuffix(c.Endpoint, "/"),
		})
	case config.StorageS3:
		host, secure, err := config.ParseEndpoint(c.Endpoint)
		if err != nil {
			return nil, &configError{err}
		}
		return s3.New(ctx, s3.Config{
			Endpoint: host, DisableTLS: !secure, Region: c.Region, Bucket: c.Bucket, Prefix: c.Prefix,
			AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey.Reveal(),
			PartSize: int64(c.PartSize), CallTimeout: c.CallTimeout.Std(), IdleTimeout: c.StallTimeout.Std(),
		})
	}
	return nil, &configError{fmt.Errorf("storage.type %q is not b2, s3 or local", c.Type)}
}

// recipients returns the configured recipients and their text forms.
func recipients(c *config.Config) ([]age.Recipient, []string, error) {
	rs, err := c.Encryption.AgeRecipients()
	if err != nil {
		return nil, nil, &configError{err}
	}
	return rs, c.Encryption.All, nil
}

// b2DefaultAPI is the B2 API an empty storage.endpoint means.
const b2DefaultAPI = "https://api.backblazeb2.com"

// storeKey is the canonical identity of a b2 or s3 store, for its lock:
// two spellings of one store (a trailing slash, the default port written
// or not, a capital in the host name, slashes around the prefix) give the
// same key. A local store is identified by its directory (lockPlace).
func storeKey(c config.Storage) string {
	prefix := strings.Trim(c.Prefix, "/")
	switch c.Type {
	case config.StorageB2:
		endpoint := strings.ToLower(strings.TrimRight(c.Endpoint, "/"))
		if endpoint == "" {
			endpoint = b2DefaultAPI
		}
		return strings.Join([]string{"b2", endpoint, c.Bucket, prefix}, "|")
	case config.StorageS3:
		return strings.Join([]string{"s3", s3HostPort(c.Endpoint), c.Bucket, prefix}, "|")
	}
	return strings.Join([]string{c.Type, c.Endpoint, c.Bucket, prefix, c.Path}, "|")
}

// s3HostPort is an S3 endpoint's lower-cased host and port, the port its
// scheme's default when not written.
func s3HostPort(endpoint string) string {
	host, secure, err := config.ParseEndpoint(endpoint)
	if err != nil {
		return endpoint // refused when the store is opened
	}
	host = strings.ToLower(host)
	port := "443"
	if !secure {
		port = "80"
	}
	if h, p, err := net.SplitHostPort(host); err == nil {
		host, port = h, p
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}

// lockPlace is where the configured store's locks are: a local store's
// own directory, else the lock directory (internal/lock).
func lockPlace(c config.Storage) (lock.Place, error) {
	if c.Type == config.StorageLocal {
		return lock.InDir(c.Path)
	}
	return lock.ForKey(storeKey(c))
}

// lockStore takes the store's writers' lock for what (e.g. "mbackup
// backup"), without waiting.
func lockStore(c config.Storage, what string) (*lock.Lock, error) {
	p, err := lockPlace(c)
	if err != nil {
		return nil, err
	}
	return lock.Acquire(p, what)
}

// readLockStore takes the store's readers' lock shared, for a restore or
// verify (what): a prune waits until it is released. While a prune runs
// it waits, saying so on stderr, until the prune ends or ctx does.
func readLockStore(ctx context.Context, e *env, c config.Storage, what string) (*lock.Lock, error) {
	p, err := lockPlace(c)
	if err != nil {
		return nil, err
	}
	return lock.Share(ctx, p, what, func(msg string) { fmt.Fprintln(e.stderr, msg) })
}

// pruneLockStore takes the store's readers' lock exclusively for a prune
// (what): no restore or verify reads the store while it is held. With e
// nil it does not wait (the error wraps lock.ErrReaders); otherwise it
// waits for the readers, saying so on e's stderr, until ctx ends.
func pruneLockStore(ctx context.Context, e *env, c config.Storage, what string) (*lock.Lock, error) {
	p, err := lockPlace(c)
	if err != nil {
		return nil, err
	}
	var waiting func(string)
	if e != nil {
		waiting = func(msg string) { fmt.Fprintln(e.stderr, msg) }
	}
	return lock.ExcludeReaders(ctx, p, what, waiting)
}

// withStore opens the configured store, runs fn and closes the store.
func withStore(ctx context.Context, c config.Storage, fn func(storage.Store) error) error {
	s, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	if cl, ok := s.(io.Closer); ok {
		defer cl.Close()
	}
	return fn(s)
}
