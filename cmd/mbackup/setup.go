package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"filippo.io/age"

	"mbackup/internal/config"
	"mbackup/internal/lock"
	"mbackup/internal/storage"
	"mbackup/internal/storage/configured"
	"mbackup/internal/storage/local"
)

// configError marks a configuration that cannot be used: exit 2.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// loadConfig loads e.configPath, printing its warnings. A SIGTERM or
// Ctrl-C while it loads (a file on a hung network mount, say) returns at
// once: the load goes on in the background and its result is dropped.
func (e *env) loadConfig() (*config.Config, error) {
	cfg, warnings, err := config.LoadContext(e.ctx, e.configPath)
	if err != nil && e.ctx.Err() != nil && errors.Is(err, e.ctx.Err()) {
		return nil, err // interrupted, not a configuration error
	}
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

// openStore opens the configured store.
func openStore(ctx context.Context, c config.Storage) (storage.Store, error) {
	s, err := configured.Open(ctx, c)
	return s, storageConfigError(err)
}

// existingStore refuses a local store whose directory does not exist: a
// command that only reads (list, status, verify, restore, drill) never
// creates a store, so a mistyped storage.path is an error naming the path,
// not an empty store.
func existingStore(c config.Storage) error {
	if c.Type != config.StorageLocal {
		return nil
	}
	if _, err := local.Open(c.Path); err != nil {
		return fmt.Errorf("%w: check storage.path in the configuration (mbackup backup creates the store)", err)
	}
	return nil
}

// openExisting is openStore for a command that only reads: see
// existingStore.
func openExisting(ctx context.Context, c config.Storage) (storage.Store, error) {
	if err := existingStore(c); err != nil {
		return nil, err
	}
	return openStore(ctx, c)
}

// withExisting is withStore for a command that only reads: see
// existingStore.
func withExisting(ctx context.Context, c config.Storage, fn func(storage.Store) error) error {
	if err := existingStore(c); err != nil {
		return err
	}
	return withStore(ctx, c, fn)
}

// withStore opens the configured store, runs fn and closes the store.
func withStore(ctx context.Context, c config.Storage, fn func(storage.Store) error) error {
	return storageConfigError(configured.With(ctx, c, fn))
}

// storageConfigError makes an unusable storage section a configError.
func storageConfigError(err error) error {
	if errors.Is(err, configured.ErrConfig) {
		return &configError{err}
	}
	return err
}

// recipients returns the configured recipients and their text forms.
func recipients(c *config.Config) ([]age.Recipient, []string, error) {
	rs, err := c.Encryption.AgeRecipients()
	if err != nil {
		return nil, nil, &configError{err}
	}
	return rs, c.Encryption.All, nil
}

// lockPlace is where the configured store's locks are.
func lockPlace(c config.Storage) (lock.Place, error) { return configured.LockPlace(c) }

// lockStore takes the store's writers' lock for what (e.g. "mbackup
// backup"), without waiting.
func lockStore(c config.Storage, what string) (*lock.Lock, error) { return configured.Lock(c, what) }

// readLockStore takes the store's readers' lock shared, for a restore or
// verify (what): a prune waits until it is released. While a prune runs
// it waits, saying so on stderr, until the prune ends or ctx does.
func readLockStore(ctx context.Context, e *env, c config.Storage, what string) (*lock.Lock, error) {
	return configured.ReadLock(ctx, c, what, func(msg string) { fmt.Fprintln(e.stderr, msg) })
}

// readStore loads the configuration, refuses a missing local store, takes
// the store's readers' lock for what (a prune waits until done is called)
// and opens the store. done closes the store, then releases the lock.
func (e *env) readStore(ctx context.Context, what string) (cfg *config.Config, s storage.Store, done func(), err error) {
	if cfg, err = e.loadConfig(); err != nil {
		return nil, nil, nil, err
	}
	s, done, err = e.readConfigured(ctx, cfg, what)
	return cfg, s, done, err
}

// readConfigured is readStore with the configuration already loaded.
func (e *env) readConfigured(ctx context.Context, cfg *config.Config, what string) (s storage.Store, done func(), err error) {
	if err := existingStore(cfg.Storage); err != nil {
		return nil, nil, err
	}
	rl, err := readLockStore(ctx, e, cfg.Storage, what)
	if err != nil {
		return nil, nil, err
	}
	if s, err = openStore(ctx, cfg.Storage); err != nil {
		rl.Release()
		return nil, nil, err
	}
	return s, func() {
		if c, ok := s.(io.Closer); ok {
			c.Close()
		}
		rl.Release()
	}, nil
}

// pruneLockStore takes the store's readers' lock exclusively for a prune
// (what): no restore or verify reads the store while it is held. With e
// nil it does not wait (the error wraps lock.ErrReaders); otherwise it
// waits for the readers, saying so on e's stderr, until ctx ends.
func pruneLockStore(ctx context.Context, e *env, c config.Storage, what string) (*lock.Lock, error) {
	var waiting func(string)
	if e != nil {
		waiting = func(msg string) { fmt.Fprintln(e.stderr, msg) }
	}
	return configured.PruneLock(ctx, c, what, waiting)
}
