package main

import (
	"context"

	"mbackup/internal/config"
	"mbackup/internal/engines"
	"mbackup/internal/snapshot"
)

// components are the parts of a snapshot, in the order they are taken.
var components = engines.Names()

// jobs returns the jobs of every configured component in only (all when
// only is empty); see engines.Jobs.
func jobs(ctx context.Context, cfg *config.Config, only []string) []snapshot.Job {
	return engines.Jobs(ctx, cfg, only)
}
