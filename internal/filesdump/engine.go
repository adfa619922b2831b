// Package filesdump backs up and restores the files component: the
// files and directories that the files: section of the configuration
// lists (.env.production, the nginx site, /etc/letsencrypt, the systemd
// units), one tar artifact per entry.
//
// Invariants:
//   - One artifact per entry, named by its absolute path, so a missing or
//     unreadable entry is one failed job (the snapshot is partial, with
//     the reason) and every other entry and component is still stored.
//   - The artifact is a tar stream (PAX) written as it is read, never
//     staged: mode, uid/gid and their names, mtime. Names are the absolute
//     path without its leading "/". A directory is walked in lexical order
//     without following any symlink; a symlink, the entry itself included,
//     is stored as the link. Files are opened with O_NOFOLLOW and their
//     size is fstat's: a file that shrinks or grows while read fails the
//     job. Sockets, devices and FIFOs are skipped with a note. A file or
//     directory that cannot be read fails the job once the whole tree was
//     walked, naming them (at most 10, and a count) and the fix.
//   - The manifest (dump.Info) records the count and bytes of the regular
//     files, each one's path, size and SHA-256, and each symlink's target.
//     For a file named .env.production it records which Mastodon secrets
//     keys are set (names only, never a value) and notes each one missing
//     with what is lost without it.
//   - A restore writes below one directory, opened as an os.Root: the
//     review directory (--files-to, created 0700) or, with
//     --files-in-place, "/". Every tar entry must lie below its artifact's
//     path, hold no ".." and no absolute name; every regular file and
//     symlink must be in the manifest's list with the same target, size
//     and SHA-256 (a file is written to a temporary name in its directory,
//     checked, fsynced, then renamed; removed when it does not match), and no path
//     is written through a symlink: components below the entry are checked
//     with Lstat and symlinks are created after every file. A target path
//     that exists is refused by Check without --clean. Owners are restored
//     only when running as root.
package filesdump

import (
	"context"
	"io"

	"mbackup/internal/artifact"
	"mbackup/internal/config"
	"mbackup/internal/dump"
	"mbackup/internal/engine"
	"mbackup/internal/snapshot"
)

// Engine backs up and restores the files component: one tar per entry of
// the files: section.
type Engine struct{}

// Component is files.
func (Engine) Component() artifact.Component { return artifact.Files }

// Title is files.
func (Engine) Title() string { return "files" }

// RestoreOrder puts files last, after Redis.
func (Engine) RestoreOrder() int { return 3 }

// Jobs returns one job per entry of cfg.Files.
func (Engine) Jobs(_ context.Context, cfg *config.Config) []snapshot.Job {
	var js []snapshot.Job
	for _, entry := range cfg.Files {
		js = append(js, engine.Job(artifact.Ref{Component: artifact.Files, Name: entry, Kind: artifact.Tar},
			func(ctx context.Context, w io.Writer) (dump.Info, error) { return Dump(ctx, entry, w) }))
	}
	return js
}

// Scanner is nil: no client runs a tar; see ScanInfo.
func (Engine) Scanner(artifact.Ref) io.WriteCloser { return nil }

var (
	_ engine.Restorable  = Engine{}
	_ engine.InfoScanner = Engine{}
	_ engine.Informed    = (*Target)(nil)
	_ engine.Preflighter = (*Target)(nil)
)
