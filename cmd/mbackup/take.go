package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"mbackup/internal/config"
	"mbackup/internal/explain"
	"mbackup/internal/shrink"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// takeSnapshot takes one snapshot of cfg's components into store.
func takeSnapshot(ctx context.Context, e *env, cfg *config.Config, store storage.Store, only []string) (*snapshot.Manifest, error) {
	rs, texts, err := recipients(cfg)
	if err != nil {
		return nil, err
	}
	signer, err := signingKey(e, cfg)
	if err != nil {
		return nil, err
	}
	js := jobs(ctx, cfg, only)
	if len(js) == 0 {
		return nil, &configError{errors.New("backup: nothing to back up: configure postgres, redis or mysql (or check --only)")}
	}
	log := e.logger()
	log.Info("taking a snapshot", "jobs", len(js), "storage", cfg.Storage.Type)
	if cfg.Encryption.PostQuantum {
		log.Warn("post-quantum recipients: restoring needs age 1.3.0 or later (Debian 12 ships 1.1.1) or mbackup itself")
	}
	if t := e.terminal(); t != nil {
		p := newProgress(t)
		defer p.close()
		p.wrap(js)
	}
	guard := shrink.Prepare(ctx, store, int(cfg.Retention.ShrinkThreshold), time.Now())
	t := &snapshot.Taker{
		Store: store, Recipients: rs, RecipientIDs: texts,
		Host: cfg.Host, Tool: "mbackup " + buildVersion(), Log: log, StallTimeout: cfg.DumpStallTimeout.Std(),
		Review:  guard.Review,
		Explain: func(component, name string, err error) string { return explain.Job(cfg, component, name, err) },
	}
	if signer != nil {
		t.Signer = signer
	}
	m, err := t.Take(ctx, js)
	for _, w := range shrink.Warnings(m) {
		log.Warn(w)
	}
	if err != nil {
		return m, fmt.Errorf("backup: %w", wrapPartial(err))
	}
	return m, nil
}
