package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strings"
	"time"

	"mbackup/internal/shrink"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage"
)

// runAcceptShrink records that the drop the shrink guard flagged in a
// snapshot is expected (a database dropped on purpose, a cache flushed),
// so that retention stops holding the snapshot from before it. It takes
// the store's writers' lock, like backup and mirror. An unknown id or a
// snapshot without flags is a usage error: exit 2.
func runAcceptShrink(ctx context.Context, e *env, args []string) error {
	flags := e.flagSet("accept-shrink")
	pos, err := parseMixed(flags, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: mbackup accept-shrink ID: the flagged snapshot, as backup, Slack and mbackup list name it\n%s", flagHelp(flags))
	}
	id := pos[0]
	if _, err := snapshot.ParseID(id); err != nil {
		return usagef("accept-shrink: %v", err)
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	l, err := lockStore(cfg.Storage, "mbackup accept-shrink")
	if err != nil {
		return err
	}
	defer l.Release()
	return withStore(ctx, cfg.Storage, func(s storage.Store) error {
		return acceptShrink(ctx, e, s, id)
	})
}

// acceptShrink writes the acceptance of snapshot id's shrink into s.
func acceptShrink(ctx context.Context, e *env, s storage.Store, id string) error {
	m, err := snapshot.Load(ctx, s, id)
	if errors.Is(err, fs.ErrNotExist) {
		return usagef("accept-shrink: no snapshot %s in the store (mbackup list shows them)", id)
	}
	if err != nil {
		return fmt.Errorf("accept-shrink: %w", err)
	}
	done, err := shrink.Accept(ctx, s, m, whoAmI(), time.Now())
	if errors.Is(err, shrink.ErrNotFlagged) {
		return usagef("accept-shrink: snapshot %s has no shrink flagged: nothing to accept", id)
	}
	if err != nil {
		return fmt.Errorf("accept-shrink: %w", err)
	}
	held := strings.Join(shrink.Held(m), ", ")
	if !done {
		fmt.Fprintf(e.stdout, "the shrink of %s was already accepted: retention no longer holds %s\n", id, held)
		return nil
	}
	for _, sh := range m.Shrunk {
		fmt.Fprintf(e.stdout, "  %s\n", shrink.Line(sh))
	}
	fmt.Fprintf(e.stdout, "accepted the shrink of %s: retention no longer holds %s; the next prune applies the policy to it\n", id, held)
	return nil
}

// whoAmI names who accepts, for the record: user@host.
func whoAmI() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return name + "@" + host
}
