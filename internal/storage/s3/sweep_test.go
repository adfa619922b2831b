package s3

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// childEnv holds the JSON config of the store a re-executed test binary
// writes into before it is killed (see killedPutChild).
const childEnv = "MBACKUP_TEST_S3_KILLED_PUT"

// killedPutChild starts a Put into the store of cfgJSON, prints "ready"
// once two parts are uploaded, and blocks until it is killed.
func killedPutChild(cfgJSON string) {
	var cfg Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	r := &pausingReader{n: 2*MinPartSize + 1, ready: func() { fmt.Println("ready") }, block: make(chan struct{})}
	_, err = s.Put(context.Background(), "snapshots/killed/postgres/big", r)
	fmt.Println("put returned:", err)
	os.Exit(1)
}

// pausingReader yields n zero bytes, of which the last one only after
// calling ready and waiting for block to close: by then every earlier
// full part is uploaded.
type pausingReader struct {
	n, done int
	ready   func()
	block   chan struct{}
}

func (r *pausingReader) Read(p []byte) (int, error) {
	if r.done == r.n-1 {
		r.ready()
		<-r.block
	}
	if r.done == r.n {
		return 0, io.EOF
	}
	k := min(len(p), r.n-1-r.done, 64<<10)
	if r.done == r.n-1 {
		k = 1
	}
	clear(p[:k])
	r.done += k
	return k, nil
}

// killPutMidway runs a child that puts into the store of cfg and kills it
// with SIGKILL once two parts are uploaded.
func killPutMidway(t *testing.T, cfg Config) {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
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

// uploads lists the unfinished multipart uploads under prefix with the
// raw client: key → stored bytes.
func uploads(t *testing.T, bucket, prefix string) map[string]int64 {
	t.Helper()
	c := minio.Core{Client: rawClient(t)}
	ctx := context.Background()
	page, err := c.ListMultipartUploads(ctx, bucket, prefix, "", "", "", 1000)
	if err != nil || page.IsTruncated {
		t.Fatalf("list uploads: %v (truncated %v)", err, page.IsTruncated)
	}
	got := map[string]int64{}
	for _, u := range page.Uploads {
		parts, err := c.ListObjectParts(ctx, bucket, u.Key, u.UploadID, 0, 1000)
		if err != nil {
			t.Fatalf("list parts of %s: %v", u.Key, err)
		}
		size := got[u.Key]
		for _, p := range parts.ObjectParts {
			size += p.Size
		}
		got[u.Key] = size
	}
	return got
}

// TestSweepKilledPut kills a Put with SIGKILL after two parts, then
// sweeps: the dead run's upload is aborted, while a live Put's upload
// under way, and an old one outside the store's prefix, stay; the live Put
// completes.
func TestSweepKilledPut(t *testing.T) {
	bucket := fmt.Sprintf("mbackup-sweep-%d", time.Now().UnixNano())
	ctx := context.Background()
	if err := srv.CreateBucket(ctx, bucket, false); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(bucket, "instance")
	other := minio.Core{Client: rawClient(t)}
	if _, err := other.NewMultipartUpload(ctx, bucket, "elsewhere/x", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	killPutMidway(t, cfg)
	killedAt := time.Now()
	left := uploads(t, bucket, "instance/")
	if n := left["instance/snapshots/killed/postgres/big"]; len(left) != 1 || n != 2*MinPartSize {
		t.Fatalf("after kill -9: uploads %v; want the killed one with two parts", left)
	}
	t.Logf("kill -9 left a multipart upload of %d bytes", left["instance/snapshots/killed/postgres/big"])

	// The live Put starts well after the killed one: the cutoff falls
	// between them, even at a second's resolution.
	time.Sleep(3 * time.Second)
	s := newStore(t, cfg)
	ready := make(chan struct{})
	live := &pausingReader{n: MinPartSize + 1, ready: func() { close(ready) }, block: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, "snapshots/live/redis/main", live)
		done <- err
	}()
	<-ready
	if _, err := s.SweepUnfinished(ctx, 0); err == nil {
		t.Error("SweepUnfinished(0) succeeded; want a refusal")
	}
	n, err := s.SweepUnfinished(ctx, time.Since(killedAt.Add(1500*time.Millisecond)))
	if err != nil || n != 1 {
		t.Errorf("SweepUnfinished = %d, %v; want 1 aborted", n, err)
	}
	left = uploads(t, bucket, "")
	if _, ok := left["instance/snapshots/killed/postgres/big"]; ok || len(left) != 2 {
		t.Errorf("after the sweep: uploads %v; want the live one and elsewhere/x", left)
	}
	close(live.block)
	if err := <-done; err != nil {
		t.Fatalf("the live Put failed: %v", err)
	}
	o, err := s.Stat(ctx, "snapshots/live/redis/main")
	if err != nil || o.Size != MinPartSize+1 {
		t.Errorf("the live Put stored %+v, %v", o, err)
	}
}
