package config

import (
	"context"
	"fmt"
)

// LoadContext is Load that returns when ctx ends, also while the file
// cannot be read (a FIFO, a hung network mount): the load goes on in the
// background and its result is dropped. The error then wraps ctx's.
func LoadContext(ctx context.Context, path string) (*Config, []Warning, error) {
	type loaded struct {
		cfg      *Config
		warnings []Warning
		err      error
	}
	done := make(chan loaded, 1)
	go func() {
		cfg, warnings, err := Load(path)
		done <- loaded{cfg, warnings, err}
	}()
	select {
	case l := <-done:
		return l.cfg, l.warnings, l.err
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("config: load %s: %w", path, ctx.Err())
	}
}
