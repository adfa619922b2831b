package local

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mbackup/internal/storage"
)

// childEnv names the store root a re-executed test binary writes into
// before it is killed (see killedPutChild).
const childEnv = "MBACKUP_TEST_LOCAL_KILLED_PUT"

// killedBytes is how much the killed child writes.
const killedBytes = 8 << 20

func TestMain(m *testing.M) {
	if root := os.Getenv(childEnv); root != "" {
		killedPutChild(root)
		return
	}
	os.Exit(m.Run())
}

// killedPutChild starts a Put into the store at root, prints "ready" once
// killedBytes are in its temporary file, and blocks until it is killed.
func killedPutChild(root string) {
	s, err := New(root)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	_, err = s.Put(context.Background(), "snapshots/killed/postgres/big", &blockingReader{n: killedBytes, block: make(chan struct{}), ready: func() { fmt.Println("ready") }})
	fmt.Println("put returned:", err)
	os.Exit(1)
}

// blockingReader yields n zero bytes, then calls ready (once the writer
// has written everything read so far) and blocks until block is closed.
type blockingReader struct {
	n, done int
	block   chan struct{}
	ready   func()
	called  bool
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if r.done >= r.n {
		if !r.called {
			r.called = true
			r.ready()
		}
		<-r.block
		return 0, io.EOF
	}
	k := min(len(p), r.n-r.done, 64<<10)
	clear(p[:k])
	r.done += k
	return k, nil
}

// killPutMidway runs a child that writes into root and kills it with
// SIGKILL in the middle of its Put.
func killPutMidway(t *testing.T, root string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v; want ready", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child ended with %v; want killed", err)
	}
}

// tempFiles returns the temporary files under root and their sizes.
func tempFiles(t *testing.T, root string) map[string]int64 {
	t.Helper()
	found := map[string]int64{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), tmpPrefix) {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			found[p] = fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestSweepKilledPut kills a Put with SIGKILL, then sweeps: the dead run's
// temporary file goes, while a live Put's file (as old by mtime), a young
// unlocked one and the store's lock file stay, and the live Put completes.
func TestSweepKilledPut(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	killPutMidway(t, root)
	killed := tempFiles(t, root)
	if len(killed) != 1 {
		t.Fatalf("after kill -9: temporary files %v; want one", killed)
	}
	for p, size := range killed {
		t.Logf("kill -9 left %s: %d bytes", strings.TrimPrefix(p, root), size)
		if size != killedBytes {
			t.Errorf("left %d bytes; want %d", size, killedBytes)
		}
	}
	listed := 0
	if err := s.List(ctx, "", func(storage.Object) error { listed++; return nil }); err != nil || listed != 0 {
		t.Errorf("List = %d objects, %v; want none", listed, err)
	}

	live := &blockingReader{n: 1 << 20, block: make(chan struct{})}
	ready := make(chan struct{})
	live.ready = func() { close(ready) }
	done := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, "snapshots/live/redis/main", live)
		done <- err
	}()
	<-ready
	files := tempFiles(t, root)
	if len(files) != 2 {
		t.Fatalf("with a live Put: temporary files %v; want two", files)
	}
	lockFile := filepath.Join(root, ".mbackup-lock")
	young := filepath.Join(root, "snapshots", tmpPrefix+"young")
	for p, data := range map[string]string{lockFile: "", young: "x"} {
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-48 * time.Hour)
	for p := range files {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(lockFile, old, old); err != nil {
		t.Fatal(err)
	}

	if _, err := s.SweepUnfinished(ctx, 0); err == nil {
		t.Error("SweepUnfinished(0) succeeded; want a refusal")
	}
	n, err := s.SweepUnfinished(ctx, 24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("SweepUnfinished = %d, %v; want 1 removed", n, err)
	}
	for p := range killed {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the killed Put's file %s is still there", p)
		}
		if _, err := os.Stat(filepath.Dir(p)); err == nil {
			t.Errorf("the killed Put's empty directory %s is still there", filepath.Dir(p))
		}
	}
	for _, p := range []string{lockFile, young} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was swept: %v", p, err)
		}
	}
	left := tempFiles(t, root)
	if len(left) != 2 {
		t.Errorf("after the sweep: temporary files %v; want the live one and the young one", left)
	}

	close(live.block)
	if err := <-done; err != nil {
		t.Fatalf("the live Put failed: %v", err)
	}
	rc, err := s.Get(ctx, "snapshots/live/redis/main")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(b, make([]byte, 1<<20)) {
		t.Errorf("the live Put stored %d bytes, %v; want 1 MiB of zeros", len(b), err)
	}
}
