package filesdump

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path"
	"strconv"
	"strings"

	"mbackup/internal/engine"
	"mbackup/internal/stall"
)

// extracted is what an extraction wrote.
type extracted struct {
	files, links, dirs int
	bytes              int64
}

// extractor writes the entries of one tar below root, an os.Root, so no
// name can leave it; paths in root are the tar's names (the absolute path
// without its leading "/").
type extractor struct {
	ctx   context.Context
	root  *os.Root
	want  *want
	clean bool
	owner bool // restore owners: running as root
	dirs  []*tar.Header
	links []*tar.Header
	done  extracted
	ids   map[string]int
	// progress, when set, gets the bytes restored of total after each file.
	progress func(engine.Progress)
	total    int64
}

// extract reads the tar of w.entry from r into root, checking every entry
// against w; see the package comment.
func extract(ctx context.Context, r io.Reader, root *os.Root, w *want, opt engine.Options, total int64) (extracted, error) {
	x := &extractor{ctx: ctx, root: root, want: w, clean: opt.Clean, owner: os.Geteuid() == 0, ids: map[string]int{},
		progress: opt.Progress, total: total}
	err := x.entries(tar.NewReader(r))
	if err == nil {
		err = w.done()
	}
	if err == nil {
		err = x.finish()
	}
	return x.done, err
}

func (x *extractor) entries(tr *tar.Reader) error {
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		p, err := x.want.member(h)
		if err != nil {
			return err
		}
		h.Name = strings.TrimPrefix(p, "/")
		switch h.Typeflag {
		case tar.TypeDir:
			err = x.dir(h)
		case tar.TypeReg:
			err = x.file(h, tr)
		case tar.TypeSymlink:
			x.links = append(x.links, h) // after every file: none is written through one
		}
		if err != nil {
			return err
		}
	}
}

// finish creates the symlinks, then gives the directories their modes,
// owners and mtimes, deepest first.
func (x *extractor) finish() error {
	for _, h := range x.links {
		if err := x.link(h); err != nil {
			return err
		}
	}
	for i := len(x.dirs) - 1; i >= 0; i-- {
		if err := x.dirAttrs(x.dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

// safe fails when a component of name at or below the entry exists as
// something other than a directory (a symlink above all): nothing is
// written through one. Components above the entry belong to the system.
func (x *extractor) safe(name string, self bool) error {
	entry := strings.TrimPrefix(x.want.entry, "/")
	dir := name
	if !self {
		dir = path.Dir(name)
	}
	for ; dir != "." && below("/"+dir, "/"+entry); dir = path.Dir(dir) {
		fi, err := x.root.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("/%s exists and is not a directory (a symlink?): refused, nothing is written through one", dir)
		}
	}
	return nil
}

func (x *extractor) dir(h *tar.Header) error {
	if err := x.safe(h.Name, true); err != nil {
		return err
	}
	if err := x.root.MkdirAll(h.Name, 0o700); err != nil {
		return err
	}
	x.dirs = append(x.dirs, h)
	x.done.dirs++
	return nil
}

// parent makes the directory of name.
func (x *extractor) parent(name string) error {
	if err := x.safe(name, false); err != nil {
		return err
	}
	if d := path.Dir(name); d != "." {
		return x.root.MkdirAll(d, 0o755)
	}
	return nil
}

// file writes a regular file to a temporary name in its directory, checks
// its SHA-256 against the manifest, gives it its owner, mode and mtime and
// renames it into place; a file that does not match is removed.
func (x *extractor) file(h *tar.Header, r io.Reader) (err error) {
	if err := x.parent(h.Name); err != nil {
		return err
	}
	if err := x.free(h.Name); err != nil {
		return err
	}
	tmp := path.Join(path.Dir(h.Name), ".mbackup-"+rand.Text())
	f, err := x.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			x.root.Remove(tmp)
		}
	}()
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, sum), stall.ContextReader(x.ctx, r))
	if err != nil {
		return fmt.Errorf("write /%s: %w", h.Name, err)
	}
	if hex.EncodeToString(sum.Sum(nil)) != x.want.files["/"+h.Name].SHA256 {
		return fmt.Errorf("/%s: %w: refused, not written", h.Name, errSum)
	}
	if err := x.attrs(f, h); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := x.root.Chtimes(tmp, h.ModTime, h.ModTime); err != nil {
		return err
	}
	if err := x.root.Rename(tmp, h.Name); err != nil {
		return err
	}
	x.done.files++
	x.done.bytes += n
	engine.Report(x.progress, engine.Progress{Done: x.done.bytes, Total: x.total, Unit: engine.Bytes, What: "/" + h.Name})
	return nil
}

// free fails when name exists and the restore may not replace it.
func (x *extractor) free(name string) error {
	fi, err := x.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("/%s exists and is a directory: refused", name)
	case !x.clean:
		return fmt.Errorf("/%s exists: refused without --clean", name)
	}
	return nil
}

// attrs gives an open file its owner (as root) and mode.
func (x *extractor) attrs(f *os.File, h *tar.Header) error {
	if x.owner {
		if err := f.Chown(x.uid(h), x.gid(h)); err != nil {
			return err
		}
	}
	return f.Chmod(mode(h))
}

func mode(h *tar.Header) fs.FileMode {
	return h.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// link creates a symlink of the tar (replacing an existing one with
// --clean), never following what it points to.
func (x *extractor) link(h *tar.Header) error {
	if err := x.parent(h.Name); err != nil {
		return err
	}
	if err := x.free(h.Name); err != nil {
		return err
	}
	if err := x.root.Remove(h.Name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := x.root.Symlink(h.Linkname, h.Name); err != nil {
		return err
	}
	x.done.links++
	if x.owner {
		return x.root.Lchown(h.Name, x.uid(h), x.gid(h))
	}
	return nil
}

// dirAttrs gives a directory its owner, mode and mtime.
func (x *extractor) dirAttrs(h *tar.Header) error {
	if err := x.safe(h.Name, true); err != nil {
		return err
	}
	if x.owner {
		if err := x.root.Lchown(h.Name, x.uid(h), x.gid(h)); err != nil {
			return err
		}
	}
	if err := x.root.Chmod(h.Name, mode(h)); err != nil {
		return err
	}
	return x.root.Chtimes(h.Name, h.ModTime, h.ModTime)
}

// uid is the id of the tar's user name on this host, else its number.
func (x *extractor) uid(h *tar.Header) int {
	return x.id("u:"+h.Uname, h.Uid, func() (string, error) {
		u, err := user.Lookup(h.Uname)
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	})
}

func (x *extractor) gid(h *tar.Header) int {
	return x.id("g:"+h.Gname, h.Gid, func() (string, error) {
		g, err := user.LookupGroup(h.Gname)
		if err != nil {
			return "", err
		}
		return g.Gid, nil
	})
}

func (x *extractor) id(key string, number int, lookup func() (string, error)) int {
	if key == "u:" || key == "g:" {
		return number
	}
	if id, ok := x.ids[key]; ok {
		return id
	}
	id := number
	if s, err := lookup(); err == nil {
		if n, err := strconv.Atoi(s); err == nil {
			id = n
		}
	}
	x.ids[key] = id
	return id
}
