package filesdump

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"mbackup/internal/artifact"
	"mbackup/internal/dump"
	"mbackup/internal/engine"
	"mbackup/internal/human"
)

// DefaultDir is the review directory files are restored below by default,
// relative to the working directory of the restore.
const DefaultDir = "mbackup-files"

// Target is where files artifacts are restored: below the review
// directory Dir (created 0700, the original tree below it) or, InPlace,
// at their original paths. It is an engine.Informed: the restore gives it
// each artifact's list of files before planning it.
type Target struct {
	Dir     string // absolute; "" means DefaultDir in the working directory
	InPlace bool

	mu    sync.Mutex
	infos map[string]dump.Info // by artifact name
}

// Component is files.
func (t *Target) Component() artifact.Component { return artifact.Files }

// Inform records what the manifest holds of artifact a.
func (t *Target) Inform(a artifact.Ref, info dump.Info) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.infos == nil {
		t.infos = map[string]dump.Info{}
	}
	t.infos[a.Name] = info
}

func (t *Target) info(a artifact.Ref) (dump.Info, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	info, ok := t.infos[a.Name]
	if !ok {
		return info, fmt.Errorf("filesdump: restore %s: the manifest's list of its files was not given to the files target "+
			"(engine.Informed), so its files cannot be checked: refused", a.Name)
	}
	return info, nil
}

// dest is the directory the tree is restored below: "/" in place.
func (t *Target) dest() string {
	switch {
	case t.InPlace:
		return "/"
	case t.Dir == "":
		if d, err := filepath.Abs(DefaultDir); err == nil {
			return d
		}
		return DefaultDir
	}
	return t.Dir
}

// where is the path p is restored to.
func (t *Target) where(p string) string {
	if t.InPlace {
		return p
	}
	return filepath.Join(t.dest(), p)
}

// Plan says where the files of a go; there is no database.
func (t *Target) Plan(a artifact.Ref, clean bool) (database, does string) {
	what := a.Name
	if info, err := t.info(a); err == nil {
		what = fmt.Sprintf("%s (%d files, %s)", a.Name, info.FileCount, human.Bytes(info.FileBytes))
	}
	replace := "refused where a file exists"
	if clean {
		replace = "replacing files that exist (--clean)"
	}
	if t.InPlace {
		return "", fmt.Sprintf("write %s in place, at its original path, with modes and owners; %s", what, replace)
	}
	return "", fmt.Sprintf("write %s below %s as %s (the original tree, created 0700); %s",
		what, t.dest(), t.where(a.Name), replace)
}

// Check refuses, writing nothing, an artifact whose list is not known or
// not valid, and, without clean, one whose files or symlinks exist at
// their target paths.
func (t *Target) Check(_ context.Context, a artifact.Ref, _ string, clean bool) error {
	info, err := t.info(a)
	if err != nil {
		return err
	}
	if _, err := newWant(a.Name, info); err != nil {
		return fmt.Errorf("filesdump: restore %s: %w", a.Name, err)
	}
	if fi, err := os.Stat(t.dest()); err == nil && !fi.IsDir() {
		return fmt.Errorf("filesdump: restore %s: %s is not a directory: give another --files-to", a.Name, t.dest())
	}
	var exist, dirs []string
	for _, f := range info.Files {
		fi, err := os.Lstat(t.where(f.Path))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err == nil && fi.IsDir():
			dirs = append(dirs, t.where(f.Path))
		default:
			exist = append(exist, t.where(f.Path))
		}
	}
	if len(dirs) > 0 {
		return fmt.Errorf("filesdump: restore %s: %d directories stand where files go: %s: move them away, or %s",
			a.Name, len(dirs), list(dirs), t.elsewhere())
	}
	if len(exist) > 0 && !clean {
		return fmt.Errorf("filesdump: restore %s: would overwrite %d existing files: %s: move them away, %s, or give --clean to replace them",
			a.Name, len(exist), list(exist), t.elsewhere())
	}
	return nil
}

// elsewhere says how to restore somewhere else instead.
func (t *Target) elsewhere() string {
	if t.InPlace {
		return "restore into a review directory (--files-to DIR, without --files-in-place)"
	}
	return "restore into another --files-to directory"
}

// Preflight records what the manifest holds of the artifact, then checks
// it as Check does; its notes are the missing Mastodon secrets keys.
func (t *Target) Preflight(ctx context.Context, p engine.Pending) ([]string, error) {
	t.Inform(p.Artifact, p.Info)
	return t.Warnings(p.Artifact), t.Check(ctx, p.Artifact, p.Database, p.Clean)
}

// Apply extracts the staged tar of s, checking every entry and file
// against the manifest's list (see the package comment).
func (t *Target) Apply(ctx context.Context, s engine.Staged, opt engine.Options) (engine.Outcome, error) {
	var out engine.Outcome
	info, err := t.info(s.Artifact)
	if err != nil {
		return out, err
	}
	w, err := newWant(s.Artifact.Name, info)
	if err != nil {
		return out, fmt.Errorf("filesdump: restore %s: %w", s.Artifact.Name, err)
	}
	done, err := t.extract(ctx, s.File, w, opt, info.FileBytes)
	if err != nil {
		return out, fmt.Errorf("filesdump: restore %s: %w", s.Artifact.Name, err)
	}
	out.Restored = true
	out.Notes = t.notes(s.Artifact, info, done)
	return out, nil
}

func (t *Target) extract(ctx context.Context, file string, w *want, opt engine.Options, total int64) (extracted, error) {
	if !t.InPlace {
		if err := os.MkdirAll(t.dest(), 0o700); err != nil {
			return extracted{}, err
		}
	}
	root, err := os.OpenRoot(t.dest())
	if err != nil {
		return extracted{}, err
	}
	defer root.Close()
	f, err := os.Open(file)
	if err != nil {
		return extracted{}, err
	}
	defer f.Close()
	return extract(ctx, f, root, w, opt, total)
}

// notes say what went where, and what a restored .env.production lacks.
func (t *Target) notes(a artifact.Ref, info dump.Info, done extracted) []string {
	n := []string{fmt.Sprintf("%s: %d files (%s), %d directories, %d symlinks restored to %s",
		a, done.files, human.Bytes(done.bytes), done.dirs, done.links, t.where(a.Name))}
	if os.Geteuid() != 0 {
		n = append(n, fmt.Sprintf("%s: owners not restored (not running as root): the files belong to uid %d", a, os.Geteuid()))
	}
	if !t.InPlace {
		n = append(n, fmt.Sprintf("%s: review %s, then copy what you need to %s (cp -a keeps modes)", a, t.where(a.Name), a.Name))
	}
	for _, w := range warnings(info) {
		n = append(n, a.String()+": warning: "+w)
	}
	return n
}

// Warnings are what the operator should know before restoring a: each
// Mastodon secrets key its .env.production files lack, with what is lost.
// Nil when the target was not informed of a.
func (t *Target) Warnings(a artifact.Ref) []string {
	info, err := t.info(a)
	if err != nil {
		return nil
	}
	return warnings(info)
}

func warnings(info dump.Info) []string {
	var w []string
	for _, f := range info.Files {
		if filepath.Base(f.Path) == EnvFile && f.Link == "" {
			for _, m := range MissingKeys(f.Keys) {
				w = append(w, m.Describe(f.Path))
			}
		}
	}
	return w
}

// TargetFlags registers restore's --files-to and --files-in-place.
func (Engine) TargetFlags(fs *flag.FlagSet) func(engine.Asker) (engine.Target, error) {
	var dir string
	var inPlace bool
	fs.StringVar(&dir, "files-to", DefaultDir, "review `directory` the files are restored below, with their original tree (created 0700)")
	fs.BoolVar(&inPlace, "files-in-place", false, "restore the files at their original paths, with modes and owners (refused where a file exists, unless --clean)")
	return func(ask engine.Asker) (engine.Target, error) {
		to := false
		fs.Visit(func(f *flag.Flag) { to = to || f.Name == "files-to" })
		if inPlace && to {
			return nil, errors.New("filesdump: give --files-to or --files-in-place, not both")
		}
		if ask != nil && !inPlace {
			ask.Say("\nFiles: restored below a review directory, with their original tree (--files-in-place writes them to their original paths).")
			var err error
			if dir, err = ask.Line("  review directory", dir); err != nil {
				return nil, err
			}
		}
		return newTarget(dir, inPlace)
	}
}

func newTarget(dir string, inPlace bool) (*Target, error) {
	if inPlace {
		return &Target{InPlace: true}, nil
	}
	if strings.TrimSpace(dir) == "" {
		return nil, errors.New("filesdump: --files-to: empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("filesdump: --files-to %s: %w", dir, err)
	}
	return &Target{Dir: abs}, nil
}
