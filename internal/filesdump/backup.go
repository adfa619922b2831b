package filesdump

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"mbackup/internal/dump"
	"mbackup/internal/stall"
)

// maxNames is how many paths an error or a probe names before it only
// counts the others.
const maxNames = 10

// MaxFiles bounds the files and symlinks of one entry, so its list fits
// in a manifest (snapshot reads at most 64 MiB of one, about 185 bytes a
// file) with room for the others: a files entry holds configuration, not
// data.
const MaxFiles = 50_000

// envMax is the largest .env.production whose keys are checked.
const envMax = 1 << 20

// Dump writes the tar of entry (an absolute path: a file, a directory, or
// a symlink stored as the link) to w and returns its Info: the count and
// bytes of its regular files, each file's size and SHA-256 and each
// symlink's target. It fails when entry is missing, when a file changes
// size while it is read, or, once the whole tree was walked, when any
// file or directory in it could not be read, naming them and the fix.
// Any error means the bytes written to w must be discarded.
func Dump(ctx context.Context, entry string, w io.Writer) (dump.Info, error) {
	return dumpAtMost(ctx, entry, w, MaxFiles)
}

func dumpAtMost(ctx context.Context, entry string, w io.Writer, maxFiles int) (dump.Info, error) {
	d := &dumper{ctx: ctx, tw: tar.NewWriter(w), maxFiles: maxFiles}
	d.info.Command = "tar (PAX) of " + entry
	d.info.Version = "mbackup filesdump 1"
	var err error
	if !cleanAbs(entry) || entry == "/" {
		err = errors.New("not a clean absolute path below /")
	}
	if err == nil {
		err = d.walk(entry)
	}
	if err == nil {
		err = d.unreadableErr(entry)
	}
	if err == nil {
		err = d.tw.Close()
	}
	if err != nil {
		return d.info, fmt.Errorf("filesdump: back up %s: %w", entry, err)
	}
	return d.info, nil
}

type dumper struct {
	ctx        context.Context
	maxFiles   int
	tw         *tar.Writer
	info       dump.Info
	unreadable []string
}

// walk writes entry and, when it is a directory, everything below it in
// lexical order, never following a symlink.
func (d *dumper) walk(entry string) error {
	fi, err := os.Lstat(entry)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		d.note("%s is a symlink: stored as the link, not what it points to (add its target to files: to back that up)", entry)
	}
	if !fi.IsDir() {
		return d.add(entry, fi)
	}
	return filepath.WalkDir(entry, func(p string, de fs.DirEntry, err error) error {
		if cerr := d.ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			return d.walkErr(p, err)
		}
		fi, err := de.Info()
		switch {
		case errors.Is(err, fs.ErrNotExist):
			d.note("%s: removed while the tree was read; not in this snapshot", p)
			return nil
		case errors.Is(err, fs.ErrPermission): // a directory readable but not searchable
			d.unreadable = append(d.unreadable, p)
			return nil
		case err != nil:
			return err
		}
		return d.add(p, fi)
	})
}

// walkErr handles a directory WalkDir could not read.
func (d *dumper) walkErr(p string, err error) error {
	switch {
	case errors.Is(err, fs.ErrPermission):
		d.unreadable = append(d.unreadable, p+"/")
		return fs.SkipDir
	case errors.Is(err, fs.ErrNotExist):
		d.note("%s: removed while the tree was read; not in this snapshot", p)
		return nil
	}
	return err
}

func (d *dumper) note(format string, a ...any) {
	d.info.Notes = append(d.info.Notes, fmt.Sprintf(format, a...))
}

// add writes one entry of the tree.
func (d *dumper) add(p string, fi fs.FileInfo) error {
	if len(d.info.Files) >= d.maxFiles {
		return fmt.Errorf("more than %d files: a files entry is for configuration, not data; "+
			"list smaller directories (media belong in the media: section)", d.maxFiles)
	}
	if !utf8.ValidString(p) {
		d.note("%q: skipped, its name is not valid UTF-8, which the manifest cannot record: rename it", p)
		if fi.IsDir() {
			return fs.SkipDir
		}
		return nil
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		return d.file(p, fi)
	case m.IsDir():
		return d.header(p, fi, "")
	case m&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if !utf8.ValidString(target) {
			d.note("%s: skipped, a symlink whose target is not valid UTF-8, which the manifest cannot record", p)
			return nil
		}
		d.info.Files = append(d.info.Files, dump.FileSum{Path: p, Link: target})
		return d.header(p, fi, target)
	default:
		d.note("%s: skipped, a %s: sockets, devices and FIFOs are not backed up", p, typeName(m))
		return nil
	}
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// header writes the tar header of p: its name is p without the leading
// "/", with mode, owner (ids and names) and mtime.
func (d *dumper) header(p string, fi fs.FileInfo, link string) error {
	if d.failing() {
		return nil
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	h.Name = strings.TrimPrefix(p, "/")
	if fi.IsDir() {
		h.Name += "/"
	}
	h.Format = tar.FormatPAX
	h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
	return d.tw.WriteHeader(h)
}

// failing reports whether the job will fail anyway (a file could not be
// read): the walk goes on only to name every such file.
func (d *dumper) failing() bool { return len(d.unreadable) > 0 }

// file writes a regular file, opened without following a symlink, with
// the size fstat gives, and records its sum.
func (d *dumper) file(p string, fi fs.FileInfo) error {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, fs.ErrPermission):
		d.unreadable = append(d.unreadable, p)
		return nil
	case errors.Is(err, fs.ErrNotExist):
		d.note("%s: removed while the tree was read; not in this snapshot", p)
		return nil
	case err != nil:
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() || !os.SameFile(st, fi) {
		return fmt.Errorf("%s was replaced while the tree was read: back it up again", p)
	}
	if d.failing() {
		return nil
	}
	if err := d.header(p, st, ""); err != nil {
		return err
	}
	return d.content(p, f, st.Size())
}

// content copies exactly size bytes of f into the tar, hashing them, and
// fails when f turns out shorter or longer.
func (d *dumper) content(p string, f *os.File, size int64) error {
	h := sha256.New()
	dst := io.MultiWriter(d.tw, h)
	var env *bytes.Buffer
	if filepath.Base(p) == EnvFile && size <= envMax {
		env = new(bytes.Buffer)
		dst = io.MultiWriter(dst, env)
	}
	n, err := io.CopyN(dst, stall.ContextReader(d.ctx, f), size)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s shrank from %d to %d bytes while it was read (being written?): back it up again", p, size, n)
	} else if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	var one [1]byte
	if k, _ := f.Read(one[:]); k > 0 {
		return fmt.Errorf("%s grew beyond %d bytes while it was read (being written?): back it up again", p, size)
	}
	sum := dump.FileSum{Path: p, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))}
	if env != nil {
		sum.Keys = d.secrets(p, env.Bytes())
	} else if filepath.Base(p) == EnvFile {
		d.note("%s: larger than %d bytes, its Mastodon secrets keys were not checked", p, envMax)
	}
	d.info.Files = append(d.info.Files, sum)
	d.info.FileCount++
	d.info.FileBytes += size
	return nil
}

// secrets returns the Mastodon secrets keys set in the .env.production
// data and notes those missing, with the consequence.
func (d *dumper) secrets(p string, data []byte) []string {
	keys, missing, err := SecretKeys(data)
	if err != nil {
		d.note("%s: %v", p, err)
		return nil
	}
	for _, m := range missing {
		d.note("%s", m.Describe(p))
	}
	return keys
}

// unreadableErr names, once the tree was walked, the paths that could not
// be read, and the fix.
func (d *dumper) unreadableErr(entry string) error {
	if len(d.unreadable) == 0 {
		return nil
	}
	return &UnreadableError{Entry: entry, Paths: d.unreadable}
}

// UnreadableError is a tree with files or directories (ending in "/")
// that the running user cannot read.
type UnreadableError struct {
	Entry string
	Paths []string
}

// Message names the paths (at most 10, and a count) and the user.
func (e *UnreadableError) Message() string {
	return fmt.Sprintf("cannot read %s as %s", list(e.Paths), whoami())
}

func (e *UnreadableError) Error() string { return e.Message() + ": " + Fix(e.Entry) }

// list names at most maxNames paths and counts the others.
func list(paths []string) string {
	if len(paths) <= maxNames {
		return strings.Join(paths, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(paths[:maxNames], ", "), len(paths)-maxNames)
}

// whoami names the running user: "uid 998 (mbackup)".
func whoami() string {
	uid := strconv.Itoa(os.Geteuid())
	if u, err := user.LookupId(uid); err == nil {
		return "uid " + uid + " (" + u.Username + ")"
	}
	return "uid " + uid
}

// Fix says how to let the service user read entry.
func Fix(entry string) string {
	name := "USER"
	if u, err := user.LookupId(strconv.Itoa(os.Geteuid())); err == nil {
		name = u.Username
	}
	return fmt.Sprintf("the service user needs read access: give its group read (chmod -R g+rX) or an ACL: setfacl -R -m u:%s:rX %s", name, entry)
}
