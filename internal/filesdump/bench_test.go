package filesdump

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mbackup/internal/engine"
)

// BenchmarkDump reads a tree of 1,000 files of 4 KiB and one of 64 MiB
// (-benchtime=1x and -v print the manifest bytes per file).
func BenchmarkDump(b *testing.B) {
	dir := b.TempDir()
	t := &testing.T{}
	for i := range 1000 {
		mustWrite(t, filepath.Join(dir, fmt.Sprintf("d%02d", i%50), fmt.Sprintf("file-%04d.conf", i)), strings.Repeat("x", 4096), 0o644)
	}
	mustWrite(t, filepath.Join(dir, "big"), strings.Repeat("y", 64<<20), 0o644)
	b.ResetTimer()
	for range b.N {
		info, err := Dump(context.Background(), dir, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(info.FileBytes)
		js, _ := json.MarshalIndent(info, "", "  ")
		b.ReportMetric(float64(len(js))/float64(info.FileCount), "manifest-B/file")
	}
}

// BenchmarkRestore restores the tree of BenchmarkDump into a new review
// directory, checking every file's SHA-256.
func BenchmarkRestore(b *testing.B) {
	dir := b.TempDir()
	t := &testing.T{}
	for i := range 1000 {
		mustWrite(t, filepath.Join(dir, "src", fmt.Sprintf("d%02d", i%50), fmt.Sprintf("file-%04d.conf", i)), strings.Repeat("x", 4096), 0o644)
	}
	mustWrite(t, filepath.Join(dir, "src", "big"), strings.Repeat("y", 64<<20), 0o644)
	entry := filepath.Join(dir, "src")
	tarFile := filepath.Join(dir, "src.tar")
	f, err := os.Create(tarFile)
	if err != nil {
		b.Fatal(err)
	}
	info, err := Dump(context.Background(), entry, f)
	if err != nil || f.Close() != nil {
		b.Fatal(err)
	}
	b.SetBytes(info.FileBytes)
	b.ResetTimer()
	for i := range b.N {
		tg := &Target{Dir: filepath.Join(dir, fmt.Sprint("review", i))}
		tg.Inform(ref(entry), info)
		if _, err := tg.Apply(context.Background(), engine.Staged{Artifact: ref(entry), File: tarFile}, engine.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
