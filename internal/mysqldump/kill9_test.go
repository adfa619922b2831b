package mysqldump

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mbackup/internal/testenv"
)

// kill9Env, when set, makes the test binary a child that dumps blog with
// the Config it holds (JSON) and hangs once the dumper writes.
const kill9Env = "MYSQLDUMP_TEST_KILL9_CHILD"

func kill9Child(cfgJSON string) {
	var cfg Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	_, err := Dump(context.Background(), cfg, "blog", writerFunc(func(p []byte) (int, error) {
		fmt.Println("dumping")
		select {} // until killed
	}))
	fmt.Println("dump ended:", err)
	os.Exit(2)
}

// TestKill9LeavesNoPassword kills a dump with SIGKILL, the Go process (a
// child of the test) and the dumper's process group alike, while the
// dumper runs: nothing under the child's TMPDIR holds the password.
func TestKill9LeavesNoPassword(t *testing.T) {
	ensureBlog(t)
	tmp := t.TempDir()
	cfg, _ := json.Marshal(config())
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "TMPDIR="+tmp, kill9Env+"="+string(cfg))
	child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	defer syscall.Kill(-child.Process.Pid, syscall.SIGKILL)
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "dumping\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	dumpers := childrenOf(t, child.Process.Pid, "mariadb-dump")
	if len(dumpers) != 1 {
		t.Fatalf("mariadb-dump children of the child: %v", dumpers)
	}
	start := time.Now()
	for _, pid := range append(dumpers, child.Process.Pid) {
		if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	child.Wait()
	for syscall.Kill(dumpers[0], 0) == nil && time.Since(start) < time.Minute {
		time.Sleep(10 * time.Millisecond) // reaped by init
	}
	files := 0
	err = filepath.WalkDir(tmp, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), db.Password) {
			t.Errorf("%s holds the password after kill -9", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files under the child's TMPDIR after kill -9", files)
}

// childrenOf returns the pids of ppid's children running comm.
func childrenOf(t *testing.T, ppid int, comm string) []int {
	return testenv.ChildrenOf(t, ppid, comm)
}
