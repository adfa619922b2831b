package preflight

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"mbackup/internal/filesdump"
	"mbackup/internal/human"
)

// files reads an entry of the files section as the backup does (every
// file, hashed, the tar dropped): what the running user cannot read and
// the fix, and the Mastodon secrets keys a .env.production lacks.
func files(ctx context.Context, entry string) []Result {
	r := &results{what: "files " + entry}
	start := time.Now()
	n := &countWriter{}
	info, err := filesdump.Dump(ctx, entry, n)
	var ue *filesdump.UnreadableError
	switch {
	case errors.As(err, &ue):
		r.fail(ue.Message(), filesdump.Fix(entry))
		return r.rs
	case errors.Is(err, fs.ErrNotExist):
		r.fail("missing", "create it, or remove it from files:")
		return r.rs
	case err != nil:
		r.fail(err.Error(), "make it readable by this user, or remove it from files:")
		return r.rs
	}
	r.ok(fmt.Sprintf("%d files, %s, read in %s", info.FileCount, human.Bytes(info.FileBytes), human.Duration(time.Since(start))))
	for _, note := range info.Notes {
		note = strings.TrimPrefix(note, entry+": ") // the result names the entry already
		if strings.Contains(note, " is missing or empty: ") || strings.Contains(note, "not read as a dotenv file") {
			r.warn(note, "")
		} else {
			r.ok(note)
		}
	}
	return r.rs
}
