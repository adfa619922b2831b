package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/testenv"
)

// Timeouts of the frozen-S3 test. Every command must fail within
// hangFactor times the sum of the timeouts of the calls it makes in turn:
// generous for a busy machine, yet short of minio-go's own retries (10
// tries of a stall timeout each, about 27s per call here).
const (
	hangCall   = time.Second
	hangStall  = 2 * time.Second
	hangFactor = 10
)

// s3Setup writes an identity and a config backing up the test Redis to
// the S3 store on gw, with short storage timeouts.
func s3Setup(t *testing.T, gw *testenv.S3, rd *testenv.Redis) (dir, config string) {
	t.Helper()
	dir = t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"keygen", "-o", filepath.Join(dir, "id.txt")}, nil, &out, &errb); code != 0 {
		t.Fatalf("keygen: %s", errb.String())
	}
	for name, secret := range map[string]string{"s3.key": gw.SecretAccessKey, "redis.pass": rd.Password} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	config = filepath.Join(dir, "mbackup.yaml")
	text := fmt.Sprintf(`host: test-host
storage:
  type: s3
  endpoint: http://%s
  region: %s
  bucket: %s
  prefix: hang
  access_key_id: %s
  secret_access_key_file: s3.key
  part_size: 5MiB
  call_timeout: %v
  stall_timeout: %v
encryption:
  recipients: [%s]
redis:
  - name: main
    url: redis://%s/0
    password_file: redis.pass
`, gw.Endpoint, gw.Region, gw.Bucket, gw.AccessKeyID, hangCall, hangStall, strings.TrimSpace(out.String()), rd.Addr)
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, config
}

// unhurried writes a copy of config without its short storage timeouts,
// beside it (relative paths in it stay valid), and returns its path.
func unhurried(t *testing.T, config string) string {
	t.Helper()
	text, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(text), "\n") {
		if !strings.HasPrefix(line, "  call_timeout:") && !strings.HasPrefix(line, "  stall_timeout:") {
			kept = append(kept, line)
		}
	}
	if len(kept) != strings.Count(string(text), "\n")+1-2 {
		t.Fatalf("the timeouts are not in %s as expected:\n%s", config, text)
	}
	slow := strings.TrimSuffix(config, ".yaml") + "-unhurried.yaml"
	if err := os.WriteFile(slow, []byte(strings.Join(kept, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return slow
}

// TestS3FrozenCommandsEnd stops versitygw with SIGSTOP in the middle of a
// backup's upload, then before list, backup and verify: each must fail
// within hangFactor times its promised bound. The measured seconds are
// logged.
func TestS3FrozenCommandsEnd(t *testing.T) {
	rd := testenv.StartRedis(t)
	rd.Do(t, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	fillRedis(t, rd, 24)
	gw := testenv.StartS3(t)
	dir, cfg := s3Setup(t, gw, rd)
	// The backup before the freeze runs with the default timeouts: on a
	// loaded machine versitygw may take longer than the short ones to answer.
	slow := unhurried(t, cfg)
	if code, out, errOut := mbackup(t, "--config", slow, "backup"); code != exitOK {
		t.Fatalf("backup before the freeze exited %d:\n%s\n%s", code, out, errOut)
	}
	t.Cleanup(func() { _ = gw.Thaw() })

	frozen := make(chan time.Time, 1)
	go func() { frozen <- freezeAtUpload(t, gw) }()
	start := time.Now()
	// The part stalls, the abort and the report's listing time out.
	promised := hangStall + 2*hangCall
	code, out, errOut := mbackupWithin(t, 10*hangFactor*promised, "--config", cfg, "backup")
	end := time.Now()
	at := <-frozen
	if at.IsZero() {
		t.Fatalf("the backup's upload never showed; backup exited %d:\n%s", code, lastLines(out+errOut, 6))
	}
	hangLog(t, "backup, frozen mid-upload", code, end.Sub(at), promised, lastLines(out+errOut, 5))
	t.Logf("(frozen %.2fs into the backup, as its upload showed)", at.Sub(start).Seconds())

	for _, c := range []struct {
		args     []string
		promised time.Duration
	}{
		{[]string{"list"}, hangCall},
		{[]string{"backup"}, 2 * hangCall}, // creating the upload, the report's listing
		{[]string{"verify", "-i", filepath.Join(dir, "id.txt")}, hangCall},
	} {
		start := time.Now()
		code, out, errOut := mbackupWithin(t, 10*hangFactor*c.promised, append([]string{"--config", cfg}, c.args...)...)
		hangLog(t, c.args[0], code, time.Since(start), c.promised, lastLines(out+errOut, 4))
	}
	if err := gw.Thaw(); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := mbackup(t, "--config", slow, "list"); code != exitOK || !strings.Contains(out, "complete") {
		t.Errorf("list after the thaw exited %d:\n%s\n%s", code, out, errOut)
	}
}

// hangLog logs how a command ended on the frozen store, and fails the test
// if it succeeded or took longer than hangFactor times promised.
func hangLog(t *testing.T, what string, code int, took, promised time.Duration, tail string) {
	t.Helper()
	t.Logf("frozen S3, call_timeout %v, stall_timeout %v: mbackup %s exited %d after %.1fs (promised %v); last lines:\n%s",
		hangCall, hangStall, what, code, took.Seconds(), promised, tail)
	if code == exitOK {
		t.Errorf("mbackup %s succeeded on a frozen store", what)
	}
	if took > hangFactor*promised {
		t.Errorf("mbackup %s took %v; want under %v", what, took, hangFactor*promised)
	}
}

// freezeAtUpload polls gw for a multipart upload under way and freezes gw
// as soon as one shows, returning when; zero if none showed within a
// minute.
func freezeAtUpload(t *testing.T, gw *testenv.S3) time.Time {
	c, err := gw.Client()
	if err != nil {
		t.Error(err)
		return time.Time{}
	}
	core := minio.Core{Client: c}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		page, err := core.ListMultipartUploads(context.Background(), gw.Bucket, "hang/", "", "", "", 10)
		if err == nil && len(page.Uploads) > 0 {
			if err := gw.Freeze(); err != nil {
				t.Error(err)
			}
			return time.Now()
		}
	}
	return time.Time{}
}

// fillRedis stores mib MiB of random bytes in rd, so that a backup's
// artifact takes several 5 MiB parts. It speaks RESP itself: redis-cli
// takes values on its command line.
func fillRedis(t *testing.T, rd *testenv.Redis, mib int) {
	t.Helper()
	conn, err := net.Dial("tcp", rd.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := bufio.NewWriter(conn)
	command := func(args ...[]byte) {
		fmt.Fprintf(w, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	command([]byte("AUTH"), []byte(rd.Password))
	value := make([]byte, 1<<20)
	for i := range mib {
		rand.Read(value)
		command([]byte("SET"), fmt.Appendf(nil, "fill:%d", i), value)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	for range mib + 1 {
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "+OK") {
			t.Fatalf("redis answered %q, %v", line, err)
		}
	}
}

// mbackupWithin runs mbackup and fails the test if it is still running
// after d.
func mbackupWithin(t *testing.T, d time.Duration, args ...string) (int, string, string) {
	t.Helper()
	type result struct {
		code     int
		out, err string
	}
	ch := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, nil, &out, &errb)
		ch <- result{code, out.String(), errb.String()}
	}()
	select {
	case r := <-ch:
		return r.code, r.out, r.err
	case <-time.After(d):
		t.Fatalf("mbackup %s still running after %v: it hangs", strings.Join(args, " "), d)
		panic("unreachable")
	}
}
