// Package configured opens what the storage section of the configuration
// names: the store itself (local, b2 or s3, with their options), its
// canonical identity and the place of its locks. Every command that reads
// or writes the store goes through it, so they all agree on which store
// and which lock a configuration means.
//
// Invariants:
//   - Two spellings of one store (a trailing slash, the default port
//     written or not, a capital in the host name, slashes around the
//     prefix; for a local store any path to the same directory) have one
//     identity and share one lock; two stores never share one.
//   - Opening a store makes no request and writes nothing: the first
//     call on the store is the first contact.
//   - An error in the section itself (an unknown type, an endpoint that
//     does not parse) is ErrConfig; any other error is about the store.
//     No error holds a key.
package configured

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"mbackup/internal/config"
	"mbackup/internal/storage"
	"mbackup/internal/storage/b2"
	"mbackup/internal/storage/local"
	"mbackup/internal/storage/s3"
)

// ErrConfig marks an error in the storage section itself, one no retry
// mends: errors.Is(err, ErrConfig).
var ErrConfig = errors.New("configured: the storage section cannot be used")

// configError is an error in the storage section; its text is the cause's.
type configError struct{ err error }

func (e *configError) Error() string        { return e.err.Error() }
func (e *configError) Unwrap() error        { return e.err }
func (e *configError) Is(target error) bool { return target == ErrConfig }

// Open opens the store c names. Close it when done if it is an io.Closer.
func Open(ctx context.Context, c config.Storage) (storage.Store, error) {
	switch c.Type {
	case config.StorageLocal:
		return local.New(c.Path)
	case config.StorageB2:
		return b2.New(ctx, b2.Config{
			KeyID: c.KeyID, AppKey: c.ApplicationKey.Reveal(), Bucket: c.Bucket, Prefix: c.Prefix,
			ChunkSize: int(c.ChunkSize), ConcurrentUploads: c.ConcurrentUploads,
			CallTimeout: c.CallTimeout.Std(), StallTimeout: c.StallTimeout.Std(), UploadTimeout: c.UploadTimeout.Std(),
			APIBase: strings.TrimSuffix(c.Endpoint, "/"), Lock: b2Lock(c.Lock),
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
			Lock: s3Lock(c.Lock),
		})
	}
	return nil, &configError{fmt.Errorf("storage.type %q is not b2, s3 or local", c.Type)}
}

// b2Lock is storage.lock for the b2 store; the zero Lock (none) when
// absent.
func b2Lock(l *config.Lock) b2.Lock {
	if l == nil {
		return b2.Lock{}
	}
	return b2.Lock{Mode: l.Mode, Days: l.Days}
}

// s3Lock is storage.lock for the s3 store; the zero Lock (none) when
// absent.
func s3Lock(l *config.Lock) s3.Lock {
	if l == nil {
		return s3.Lock{}
	}
	return s3.Lock{Mode: l.Mode, Days: l.Days}
}

// With opens the store c names, runs fn on it and closes the store.
func With(ctx context.Context, c config.Storage, fn func(storage.Store) error) error {
	s, err := Open(ctx, c)
	if err != nil {
		return err
	}
	if cl, ok := s.(io.Closer); ok {
		defer cl.Close()
	}
	return fn(s)
}
