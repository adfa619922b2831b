package filesdump

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mbackup/internal/dump"
	"mbackup/internal/engine"
)

// FuzzExtract feeds arbitrary tars to the restore with the strongest lie:
// a manifest that lists every file and symlink of the tar with its true
// sum. Whatever the tar holds, the scanner and the restore must not panic
// and nothing may be written outside the review directory (a sibling
// directory that a symlink ../../outside would reach stays empty).
func FuzzExtract(f *testing.F) {
	for _, build := range []func(h *hostile){
		func(h *hostile) { h.dir("e"); h.file("e/a", "x", true, ""); h.link("e/l", "a", true) },
		func(h *hostile) { h.dir("e"); h.link("e/x", "../../outside", true); h.file("e/x/evil", "x", true, "") },
		func(h *hostile) { h.file("e/../outside/evil", "x", true, "") },
		func(h *hostile) { h.link("e", "../outside", true); h.file("e/evil", "x", true, "") },
	} {
		h := newHostile()
		build(h)
		f.Add(h.bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info := lyingManifest(data)
		scan := Engine{}.ScanInfo(ref("/e"), info)
		scan.Write(data)
		scan.Close()
		base := t.TempDir()
		outside := filepath.Join(base, "outside")
		if err := os.Mkdir(outside, 0o755); err != nil {
			t.Fatal(err)
		}
		tg := &Target{Dir: filepath.Join(base, "review")}
		tg.Inform(ref("/e"), info)
		tg.Apply(context.Background(), staged(t, "/e", data), engine.Options{Clean: true})
		if ents, _ := os.ReadDir(outside); len(ents) > 0 {
			t.Fatalf("written outside: %v", ents)
		}
		if ents, _ := os.ReadDir(base); len(ents) > 2 {
			t.Fatalf("written beside the review directory: %v", ents)
		}
	})
}

// lyingManifest lists every regular file and symlink of a tar, with its
// true size and sum, as a manifest that agrees with it would.
func lyingManifest(data []byte) dump.Info {
	var info dump.Info
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err != nil {
			return info
		}
		switch h.Typeflag {
		case tar.TypeReg:
			s := sha256.New()
			n, _ := io.Copy(s, io.LimitReader(tr, int64(len(data)))) // a sparse file is refused anyway
			info.Files = append(info.Files, dump.FileSum{Path: "/" + h.Name, Size: n, SHA256: hex.EncodeToString(s.Sum(nil))})
		case tar.TypeSymlink:
			info.Files = append(info.Files, dump.FileSum{Path: "/" + h.Name, Link: h.Linkname})
		}
	}
}

// TestSparseRefused: a sparse file (GNU tar --sparse, PAX format) expands
// to its logical size from a few bytes of tar; the restore and the scanner
// refuse it before reading it, even when the manifest lists it.
func TestSparseRefused(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Fatal("tar is not installed: apt-get install -y tar")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "e")
	mustMkdir(t, src, 0o755)
	big := filepath.Join(src, "holes")
	mustWrite(t, big, "x", 0o644)
	if err := os.Truncate(big, 1<<30); err != nil {
		t.Fatal(err)
	}
	tarFile := filepath.Join(dir, "sparse.tar")
	cmd := exec.Command("tar", "--format=posix", "--sparse", "-cf", tarFile, "-C", dir, "e")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	data, err := os.ReadFile(tarFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 1<<20 {
		t.Fatalf("the tar is not sparse: %d bytes", len(data))
	}
	info := dump.Info{Files: []dump.FileSum{{Path: "/e/holes", Size: 1 << 30, SHA256: strings.Repeat("0", 64)}}}
	scan := Engine{}.ScanInfo(ref("/e"), info)
	scan.Write(data)
	if err := scan.Close(); err == nil || !strings.Contains(err.Error(), `tar entry "e/holes": a sparse file`) {
		t.Errorf("scanner: %v", err)
	}
	tg := &Target{Dir: filepath.Join(dir, "review")}
	tg.Inform(ref("/e"), info)
	_, err = tg.Apply(context.Background(), staged(t, "/e", data), engine.Options{})
	if err == nil || !strings.Contains(err.Error(), "a sparse file, which a backup never writes: refused") {
		t.Errorf("Apply: %v", err)
	}
}
