package filesdump

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"mbackup/internal/artifact"
	"mbackup/internal/dump"
	"mbackup/internal/engine"
)

func ref(entry string) artifact.Ref {
	return artifact.Ref{Component: artifact.Files, Name: entry, Kind: artifact.Tar}
}

// staged writes a tar's bytes where a restore stages them.
func staged(t *testing.T, entry string, data []byte) engine.Staged {
	t.Helper()
	f := filepath.Join(t.TempDir(), "staged.tar")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return engine.Staged{Artifact: ref(entry), File: f}
}

// restoreInto runs Inform, Check and Apply as a restore does.
func restoreInto(t *testing.T, tg *Target, entry string, info dump.Info, data []byte, clean bool) (engine.Outcome, error) {
	t.Helper()
	tg.Inform(ref(entry), info)
	if err := tg.Check(context.Background(), ref(entry), "", clean); err != nil {
		return engine.Outcome{}, err
	}
	return tg.Apply(context.Background(), staged(t, entry, data), engine.Options{Clean: clean})
}

// sameTree compares every path below a and b: type, mode, mtime, bytes,
// symlink target, and owner.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(a, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		q := filepath.Join(b, rel)
		fa, err := os.Lstat(p)
		if err != nil {
			return err
		}
		fb, err := os.Lstat(q)
		if err != nil {
			t.Errorf("%s: not restored: %v", rel, err)
			return nil
		}
		n++
		if fa.Mode() != fb.Mode() || !fa.ModTime().Equal(fb.ModTime()) && fa.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("%s: mode %v mtime %v, restored %v %v", rel, fa.Mode(), fa.ModTime(), fb.Mode(), fb.ModTime())
		}
		sa, sb := fa.Sys().(*syscall.Stat_t), fb.Sys().(*syscall.Stat_t)
		if os.Geteuid() == 0 && (sa.Uid != sb.Uid || sa.Gid != sb.Gid) {
			t.Errorf("%s: owner %d:%d, restored %d:%d", rel, sa.Uid, sa.Gid, sb.Uid, sb.Gid)
		}
		switch {
		case fa.Mode().IsRegular():
			da, _ := os.ReadFile(p)
			db, _ := os.ReadFile(q)
			if !bytes.Equal(da, db) {
				t.Errorf("%s: bytes differ", rel)
			}
		case fa.Mode()&fs.ModeSymlink != 0:
			la, _ := os.Readlink(p)
			lb, _ := os.Readlink(q)
			if la != lb {
				t.Errorf("%s: link %q, restored %q", rel, la, lb)
			}
		}
		return nil
	})
	if err != nil || n < 2 {
		t.Fatalf("compared %d paths: %v", n, err)
	}
}

func TestRestoreReview(t *testing.T) {
	root := tree(t, t.TempDir())
	if os.Geteuid() == 0 {
		if err := os.Lchown(filepath.Join(root, "nginx.conf"), 33, 33); err != nil {
			t.Fatal(err)
		}
	}
	info, data := dumpTree(t, root)
	review := filepath.Join(t.TempDir(), "review")
	tg := &Target{Dir: review}
	out, err := restoreInto(t, tg, root, info, data, false)
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, root, filepath.Join(review, root))
	if fi, err := os.Stat(review); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("review directory: %v, %v", fi.Mode(), err)
	}
	notes := strings.Join(out.Notes, "\n")
	if !strings.Contains(notes, "files/"+root+": 4 files (") || !strings.Contains(notes, "restored to "+filepath.Join(review, root)) {
		t.Errorf("notes: %s", notes)
	}
	_, does := tg.Plan(ref(root), false)
	if !strings.Contains(does, "below "+review+" as "+filepath.Join(review, root)) {
		t.Errorf("plan: %s", does)
	}
	// Again: every file exists now, which Check refuses, naming them.
	err = tg.Check(context.Background(), ref(root), "", false)
	if err == nil || !strings.Contains(err.Error(), "would overwrite 5 existing files: "+filepath.Join(review, root)) ||
		!strings.Contains(err.Error(), "give --clean to replace them") {
		t.Errorf("second restore: %v", err)
	}
	if _, err := restoreInto(t, tg, root, info, data, true); err != nil {
		t.Errorf("with clean: %v", err)
	}
	sameTree(t, root, filepath.Join(review, root))
}

// TestRestoreInPlace restores a tree at its original path, once it was
// moved away, and compares it with the original.
func TestRestoreInPlace(t *testing.T) {
	root := tree(t, t.TempDir())
	info, data := dumpTree(t, root)
	moved := root + ".orig"
	if err := os.Rename(root, moved); err != nil {
		t.Fatal(err)
	}
	tg := &Target{InPlace: true}
	if _, err := restoreInto(t, tg, root, info, data, false); err != nil {
		t.Fatal(err)
	}
	sameTree(t, moved, root)
	_, does := tg.Plan(ref(root), false)
	if !strings.Contains(does, "in place, at its original path") {
		t.Errorf("plan: %s", does)
	}
}

func TestRestoreCheckWritesNothing(t *testing.T) {
	root := tree(t, t.TempDir())
	info, _ := dumpTree(t, root)
	tg := &Target{InPlace: true}
	tg.Inform(ref(root), info)
	err := tg.Check(context.Background(), ref(root), "", false)
	if err == nil || !strings.Contains(err.Error(), "would overwrite 5 existing files: "+root+"/env-link, ") ||
		!strings.Contains(err.Error(), "restore into a review directory (--files-to DIR, without --files-in-place)") {
		t.Errorf("in place over the original: %v", err)
	}
	review := filepath.Join(t.TempDir(), "review")
	tg = &Target{Dir: review}
	tg.Inform(ref(root), info)
	if err := tg.Check(context.Background(), ref(root), "", false); err != nil {
		t.Errorf("into a new review directory: %v", err)
	}
	if _, err := os.Lstat(review); !os.IsNotExist(err) {
		t.Errorf("Check made the review directory: %v", err)
	}
}

func TestRestoreNotInformed(t *testing.T) {
	tg := &Target{Dir: t.TempDir()}
	for _, err := range []error{
		tg.Check(context.Background(), ref("/etc/x"), "", false),
		func() error {
			_, err := tg.Apply(context.Background(), staged(t, "/etc/x", nil), engine.Options{})
			return err
		}(),
	} {
		if err == nil || !strings.Contains(err.Error(), "list of its files was not given") {
			t.Errorf("not informed: %v", err)
		}
	}
}

// hostile is a tar built entry by entry, and the manifest that goes with it.
type hostile struct {
	buf  bytes.Buffer
	tw   *tar.Writer
	info dump.Info
}

func newHostile() *hostile {
	h := &hostile{}
	h.tw = tar.NewWriter(&h.buf)
	return h
}

func (h *hostile) dir(name string) {
	h.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755})
}

// file adds a file; listed adds it to the manifest with sum ("" means its
// real sha256).
func (h *hostile) file(name, content string, listed bool, sum string) {
	h.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(content))})
	h.tw.Write([]byte(content))
	if sum == "" {
		s := sha256.Sum256([]byte(content))
		sum = hex.EncodeToString(s[:])
	}
	if listed {
		h.info.Files = append(h.info.Files, dump.FileSum{Path: "/" + name, Size: int64(len(content)), SHA256: sum})
	}
}

func (h *hostile) link(name, target string, listed bool) {
	h.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target})
	if listed {
		h.info.Files = append(h.info.Files, dump.FileSum{Path: "/" + name, Link: target})
	}
}

func (h *hostile) bytes() []byte {
	h.tw.Close()
	return h.buf.Bytes()
}

// TestRestoreHostile feeds forged tars to the restore: each is refused and
// nothing is written outside the review directory, nor any file that does
// not match the manifest.
func TestRestoreHostile(t *testing.T) {
	const entry = "/etc/app"
	for _, tc := range []struct {
		name  string
		build func(h *hostile, outside string)
		want  string
	}{
		{"dot-dot", func(h *hostile, _ string) { h.dir("etc/app"); h.file("etc/app/../../../evil", "x", false, "") }, `".." segment`},
		{"dot-dot in the manifest too", func(h *hostile, _ string) { h.file("etc/app/../../evil", "x", true, "") }, "not a clean path at or below /etc/app"},
		{"absolute", func(h *hostile, outside string) { h.file(outside+"/evil", "x", false, "") }, "absolute or empty name"},
		{"outside the entry", func(h *hostile, _ string) { h.file("etc/passwd", "x", false, "") }, "outside /etc/app"},
		{"outside the entry, listed", func(h *hostile, _ string) { h.file("etc/passwd", "x", true, "") }, "not a clean path at or below /etc/app"},
		{"not in the manifest", func(h *hostile, _ string) { h.dir("etc/app"); h.file("etc/app/extra", "x", false, "") }, "a file the manifest does not list"},
		{"wrong sha256", func(h *hostile, _ string) {
			h.dir("etc/app")
			h.file("etc/app/conf", "forged", true, strings.Repeat("ab", 32))
		}, "do not match the manifest's sha256"},
		{"unlisted symlink", func(h *hostile, outside string) { h.link("etc/app/x", outside, false) }, "a symlink to"},
		{"hard link", func(h *hostile, _ string) {
			h.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeLink, Name: "etc/app/h", Linkname: "etc/shadow"})
		}, "is never restored"},
		{"listed file missing", func(h *hostile, _ string) {
			h.dir("etc/app")
			h.info.Files = append(h.info.Files, dump.FileSum{Path: "/etc/app/gone", Size: 1, SHA256: "00"})
		}, "the tar lacks /etc/app/gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outside := t.TempDir()
			review := filepath.Join(t.TempDir(), "review")
			h := newHostile()
			tc.build(h, outside)
			data := h.bytes()
			tg := &Target{Dir: review}
			tg.Inform(ref(entry), h.info)
			_, err := tg.Apply(context.Background(), staged(t, entry, data), engine.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Apply: %v; want %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(outside); len(ents) > 0 {
				t.Errorf("written outside: %v", ents)
			}
			scan := Engine{}.ScanInfo(ref(entry), h.info)
			scan.Write(data)
			if err := scan.Close(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ScanInfo: %v; want %q", err, tc.want)
			}
			filepath.WalkDir(review, func(p string, d fs.DirEntry, _ error) error {
				if d != nil && d.Type().IsRegular() {
					t.Errorf("a file was written: %s", p)
				}
				return nil
			})
		})
	}
}

// TestRestoreNotThroughSymlink: a symlink etc/app/x to a directory
// outside is already in the review directory (a first restore made it)
// and a lying manifest lists a file etc/app/x/evil below it: even with
// --clean, the file is refused, nothing is written outside.
func TestRestoreNotThroughSymlink(t *testing.T) {
	const entry = "/etc/app"
	outside := t.TempDir()
	review := filepath.Join(t.TempDir(), "review")
	tg := &Target{Dir: review}
	h := newHostile()
	h.dir("etc/app")
	h.link("etc/app/x", outside, true)
	if err := os.MkdirAll(filepath.Join(review, "etc/app"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(review, "etc/app/x")); err != nil {
		t.Fatal(err)
	}
	h2 := newHostile()
	h2.dir("etc/app")
	h2.file("etc/app/x/evil", "x", true, "")
	h2.info.Files = append(h2.info.Files, h.info.Files...)
	tg.Inform(ref(entry), h2.info)
	_, err := tg.Apply(context.Background(), staged(t, entry, h2.bytes()), engine.Options{Clean: true})
	if err == nil || !strings.Contains(err.Error(), "/etc/app/x exists and is not a directory (a symlink?): refused") {
		t.Errorf("Apply: %v", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) > 0 {
		t.Errorf("written outside: %v", ents)
	}
}

// TestRestoreSymlinksLast: a lying manifest lists a symlink pointing
// outside and a file below it; the file is written into a real directory
// and the symlink then refused, never written through.
func TestRestoreSymlinksLast(t *testing.T) {
	outside := t.TempDir()
	review := filepath.Join(t.TempDir(), "review")
	h := newHostile()
	h.dir("etc/app")
	h.link("etc/app/x", outside, true)
	h.file("etc/app/x/evil", "x", true, "")
	tg := &Target{Dir: review}
	tg.Inform(ref("/etc/app"), h.info)
	_, err := tg.Apply(context.Background(), staged(t, "/etc/app", h.bytes()), engine.Options{})
	if err == nil || !strings.Contains(err.Error(), "etc/app/x exists and is a directory") {
		t.Errorf("Apply: %v", err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) > 0 {
		t.Errorf("written outside: %v", ents)
	}
}

func TestScanInfo(t *testing.T) {
	root := tree(t, t.TempDir())
	info, data := dumpTree(t, root)
	scan := func(info dump.Info) error {
		w := Engine{}.ScanInfo(ref(root), info)
		if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	}
	if err := scan(info); err != nil {
		t.Fatalf("scan of a good tar: %v", err)
	}
	bad := info
	bad.Files = append([]dump.FileSum(nil), info.Files...)
	for i := range bad.Files {
		if strings.HasSuffix(bad.Files[i].Path, "nginx.conf") {
			bad.Files[i].SHA256 = strings.Repeat("0", 64)
		}
	}
	if err := scan(bad); err == nil || !strings.Contains(err.Error(), "nginx.conf: its bytes do not match the manifest's sha256") {
		t.Errorf("scan with a wrong sum: %v", err)
	}
}

func TestTargetFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "mbackup-files"},
		{[]string{"--files-to", "/srv/review"}, "/srv/review"},
		{[]string{"--files-in-place"}, "in place"},
		{[]string{"--files-in-place", "--files-to", "/x"}, "not both"},
	} {
		fs := flag.NewFlagSet("restore", flag.ContinueOnError)
		build := Engine{}.TargetFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		tg, err := build(nil)
		got := ""
		switch {
		case err != nil:
			got = err.Error()
		case tg.(*Target).InPlace:
			got = "in place"
		default:
			got = tg.(*Target).Dir
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%q: %s, want %s", tc.args, got, tc.want)
		}
	}
}

// TestRestoreCheckDirInTheWay: a directory where a file goes is refused
// even with --clean, before anything is written.
func TestRestoreCheckDirInTheWay(t *testing.T) {
	root := tree(t, t.TempDir())
	info, _ := dumpTree(t, root)
	review := t.TempDir()
	mustMkdir(t, filepath.Join(review, root, "nginx.conf"), 0o755)
	tg := &Target{Dir: review}
	tg.Inform(ref(root), info)
	err := tg.Check(context.Background(), ref(root), "", true)
	if err == nil || !strings.Contains(err.Error(), "1 directories stand where files go: "+filepath.Join(review, root, "nginx.conf")) {
		t.Errorf("Check: %v", err)
	}
}

// TestScanInfoStopsEarly: the first problem fails the next Write, so a
// reader stops there.
func TestScanInfoStopsEarly(t *testing.T) {
	h := newHostile()
	h.file("../evil", "x", false, "")
	for range 100 {
		h.file("etc/app/pad", strings.Repeat("x", 1<<16), false, "")
	}
	w := Engine{}.ScanInfo(ref("/etc/app"), h.info)
	_, err := io.Copy(w, bytes.NewReader(h.bytes()))
	if err == nil || !strings.Contains(err.Error(), `filesdump: check the tar: tar entry "../evil"`) {
		t.Errorf("copy into the scanner: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Error("Close passed")
	}
}
