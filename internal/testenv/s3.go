package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Install is the command that installs the S3 server the tests run.
const S3Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// S3 is a throwaway versitygw with its posix backend, listening on
// 127.0.0.1 over plain HTTP, with one empty bucket created through the S3 API.
type S3 struct {
	Endpoint        string // host:port
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	Bucket          string // created empty, unversioned

	data     []string // directories removed by stop
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	log      *s3SyncBuffer
	stopOnce sync.Once
}

// StartS3 starts a server under t.TempDir() and stops it when t ends. A
// missing versitygw binary fails t with the command that installs it.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	s, stop, err := LaunchS3(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return s
}

// LaunchS3 starts a server whose data lives under dir, for a TestMain that
// shares one server among a package's tests. stop kills the server, waits
// for it and removes its data; it may be called more than once. Buckets may
// have versioning enabled: see CreateBucket.
func LaunchS3(dir string) (s *S3, stop func(), err error) {
	bin, err := s3Binary()
	if err != nil {
		return nil, nil, err
	}
	for range 3 { // another process may take the free port before we bind it
		if s, err = s3Start(bin, dir); err == nil {
			return s, s.stop, nil
		}
	}
	return nil, nil, err
}

// s3Binary finds versitygw in PATH or in the Go bin directories.
func s3Binary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if d := os.Getenv("GOPATH"); d != "" {
		dirs = append(dirs, filepath.Join(filepath.SplitList(d)[0], "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("testenv: versitygw not found in PATH, $GOBIN or ~/go/bin; install it with: %s", S3Install)
}

// s3Start runs one attempt: pick a port, start, wait until ready, create
// the bucket.
func s3Start(bin, dir string) (*S3, error) {
	port, err := s3FreePort()
	if err != nil {
		return nil, err
	}
	root, versions := filepath.Join(dir, "s3-data"), filepath.Join(dir, "s3-versions")
	for _, d := range []string{root, versions} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("testenv: s3: %w", err)
		}
	}
	s := &S3{
		Endpoint: fmt.Sprintf("127.0.0.1:%d", port),
		Region:   "us-east-1",
		// Credentials of this server only: should another test's versitygw
		// hold the port (it was taken between the check and the bind), its
		// answers are refused instead of silently serving this test.
		AccessKeyID:     "mbackuptest" + newPassword()[:8],
		SecretAccessKey: newPassword(),
		Bucket:          "mbackup-test",
		data:            []string{root, versions},
		done:            make(chan struct{}),
		log:             &s3SyncBuffer{},
	}
	s.cmd = exec.Command(bin, "--port", s.Endpoint, "--region", s.Region, "--quiet",
		"posix", "--versioning-dir", versions, root)
	// Credentials go through the environment, never the argv.
	s.cmd.Env = append(os.Environ(),
		"ROOT_ACCESS_KEY_ID="+s.AccessKeyID, "ROOT_SECRET_ACCESS_KEY="+s.SecretAccessKey)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// The server dies with the test binary even if Stop is never reached.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start versitygw: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(20 * time.Second); err != nil {
		s.stop()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.CreateBucket(ctx, s.Bucket, false); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// waitReady polls the port until the server answers HTTP, exits, or the
// timeout passes.
func (s *S3) waitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("testenv: versitygw exited at start: %s", s.log.String())
		default:
		}
		// Any HTTP answer will do: an unsigned request gets 403.
		resp, err := client.Get("http://" + s.Endpoint + "/")
		if err == nil {
			_ = resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("testenv: versitygw not answering on %s after %v: %s", s.Endpoint, timeout, s.log.String())
}

// Client returns a minio-go client with the root credentials, for tests
// that inspect the bucket behind a store's back.
func (s *S3) Client() (*minio.Client, error) {
	return minio.New(s.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKeyID, s.SecretAccessKey, ""),
		Region: s.Region,
	})
}

// CreateBucket creates a bucket through the S3 API, with versioning enabled
// when versioned is set.
func (s *S3) CreateBucket(ctx context.Context, name string, versioned bool) error {
	c, err := s.Client()
	if err != nil {
		return fmt.Errorf("testenv: s3 client: %w", err)
	}
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		return fmt.Errorf("testenv: create bucket %s: %w (server log: %s)", name, err, s.log.String())
	}
	if versioned {
		if err := c.EnableVersioning(ctx, name); err != nil {
			return fmt.Errorf("testenv: enable versioning on %s: %w", name, err)
		}
	}
	return nil
}

// Freeze stops the server process with SIGSTOP: the kernel still accepts
// connections and buffers what is sent, but nothing answers, as with a hung
// server. Thaw resumes it.
func (s *S3) Freeze() error {
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("testenv: freeze versitygw: %w", err)
	}
	return nil
}

// Thaw resumes a server stopped by Freeze with SIGCONT.
func (s *S3) Thaw() error {
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("testenv: thaw versitygw: %w", err)
	}
	return nil
}

// stop kills the server, waits for it to exit and removes its data. A
// frozen server is resumed so that it sees the SIGTERM.
func (s *S3) stop() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		for _, d := range s.data {
			_ = os.RemoveAll(d)
		}
	})
}

// s3FreePort asks the kernel for a free TCP port on 127.0.0.1.
func s3FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testenv: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// s3SyncBuffer collects the server's output for error messages.
type s3SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *s3SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *s3SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
