package configured

import (
	"context"
	"net"
	"strings"

	"mbackup/internal/config"
	"mbackup/internal/lock"
)

// b2DefaultAPI is the B2 API an empty storage.endpoint means.
const b2DefaultAPI = "https://api.backblazeb2.com"

// Key is the canonical identity of a b2 or s3 store, for its lock: two
// spellings of one store (a trailing slash, the default port written or
// not, a capital in the host name, slashes around the prefix) give the
// same key. A local store is identified by its directory (LockPlace).
func Key(c config.Storage) string {
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

// LockPlace is where the locks of the store c names are: a local store's
// own directory, else the lock directory (internal/lock).
func LockPlace(c config.Storage) (lock.Place, error) {
	if c.Type == config.StorageLocal {
		return lock.InDir(c.Path)
	}
	return lock.ForKey(Key(c))
}

// Lock takes the store's writers' lock for what (such as "mbackup
// backup"), without waiting: lock.ErrBusy while another run holds it.
func Lock(c config.Storage, what string) (*lock.Lock, error) {
	p, err := LockPlace(c)
	if err != nil {
		return nil, err
	}
	return lock.Acquire(p, what)
}

// ReadLock takes the store's readers' lock shared, for a restore or
// verify (what), so that no prune deletes while it is held. While a prune
// holds it, ReadLock fails at once with waiting nil; otherwise it tells
// waiting and waits until the prune ends or ctx does.
func ReadLock(ctx context.Context, c config.Storage, what string, waiting func(string)) (*lock.Lock, error) {
	p, err := LockPlace(c)
	if err != nil {
		return nil, err
	}
	return lock.Share(ctx, p, what, waiting)
}

// PruneLock takes the store's readers' lock exclusively for a prune
// (what). With waiting nil it does not wait (the error wraps
// lock.ErrReaders); otherwise it waits for the readers, telling waiting,
// until ctx ends.
func PruneLock(ctx context.Context, c config.Storage, what string, waiting func(string)) (*lock.Lock, error) {
	p, err := LockPlace(c)
	if err != nil {
		return nil, err
	}
	return lock.ExcludeReaders(ctx, p, what, waiting)
}
