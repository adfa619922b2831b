package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"
)

// The --json documents of backup, verify, check, prune, status and the
// restore plan share these rules, which the README's "JSON output"
// section states for admins:
//   - standard output holds one JSON document and nothing else, also when
//     the run fails once its command line is parsed (its "error" says
//     why); log lines and warnings stay on standard error;
//   - field names are snake_case and always present unless the schema says
//     otherwise (an empty list is [], never null);
//   - times are RFC 3339 in UTC, sizes are bytes, durations are seconds;
//   - the exit code is the one the command has without --json.

// printJSON writes v to w as one indented JSON document.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// errText is err's text for a document's "error" field: "" for nil,
// "interrupted" for a run cancelled by SIGTERM or Ctrl-C.
func errText(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return ""
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return "interrupted"
	default:
		return err.Error()
	}
}

// utc is t in UTC, to the second, as every document writes times.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// orEmpty is s, or an empty list for nil: a document's lists are never null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
