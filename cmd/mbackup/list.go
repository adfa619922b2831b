package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"mbackup/internal/shrink"
	"mbackup/internal/snapshot"
)

// listEntry is one line of "mbackup list --json".
type listEntry struct {
	ID         string             `json:"id"`
	Status     string             `json:"status"`
	Bytes      int64              `json:"bytes"`
	Components []string           `json:"components,omitempty"`
	Manifest   *snapshot.Manifest `json:"manifest,omitempty"`
	// Reason is why an unreadable or newer-format manifest does not load.
	Reason string `json:"reason,omitempty"`
	// Future is set for a snapshot dated more than an hour after the
	// clock: never taken as the newest, nor counted by retention.
	Future bool `json:"future,omitempty"`
	// ShrinkAccepted is set for a snapshot whose flagged shrink (its
	// manifest's shrunk) an admin accepted with accept-shrink.
	ShrinkAccepted bool `json:"shrink_accepted,omitempty"`
}

func runList(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("list")
	asJSON := fs.Bool("json", false, "print JSON: every snapshot with its manifest")
	allVersions := fs.Bool("all-versions", false, "find snapshots among every stored version (b2): hidden ones, "+
		"overwritten or forged manifests, and the version restore would use")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("list: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	store, err := openExisting(ctx, cfg.Storage)
	if err != nil {
		return err
	}
	if *allVersions {
		return listVersions(ctx, e, cfg, store, *asJSON)
	}
	entries, err := snapshot.List(ctx, store)
	if err != nil {
		return err
	}
	accepted, err := shrink.Accepted(ctx, store)
	if err != nil {
		return err
	}
	var out []listEntry
	for _, en := range entries {
		out = append(out, listEntry{ID: en.ID, Status: en.Status, Bytes: en.Bytes, Components: en.Manifest.Components(),
			Manifest: en.Manifest, Reason: en.Reason, Future: en.Future, ShrinkAccepted: accepted[en.ID]})
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if out == nil {
			out = []listEntry{}
		}
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME (UTC)\tSTATUS\tSIZE\tCOMPONENTS")
	for _, l := range out {
		when, _ := snapshot.ParseID(l.ID)
		comps, status := strings.Join(l.Components, ","), l.Status
		switch l.Status {
		case snapshot.StatusIncomplete:
			comps = "(no manifest: an interrupted run, removed by prune)"
		case snapshot.StatusUnreadable, snapshot.StatusNewerFormat:
			comps = "(" + l.Reason + "; left alone by prune)"
		}
		if l.Future {
			status += ", dated in the future"
		}
		if l.Manifest != nil && len(l.Manifest.Shrunk) > 0 {
			status += shrinkMark(l)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.ID, when.Format("2006-01-02 15:04"), status, humanBytes(l.Bytes), comps)
	}
	return tw.Flush()
}

// shrinkMark is what list adds to the status of a snapshot with a flagged
// shrink.
func shrinkMark(l listEntry) string {
	if l.ShrinkAccepted {
		return ", ⚠️ shrunk (accepted)"
	}
	return fmt.Sprintf(", ⚠️ shrunk: %d artifacts, holding %s until mbackup accept-shrink %s",
		len(l.Manifest.Shrunk), strings.Join(shrink.Held(l.Manifest), ","), l.ID)
}
