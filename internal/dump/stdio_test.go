package dump

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBufferedStdout runs sed, a C stdio program like pg_dump, with 3 MB
// on its stdin and reads its stdout until 2 MiB came out: sed then waits
// for the rest of its input, and /proc/PID/io says how many write(2)
// calls it took. Without the preload it is one per 4 KiB (about 512).
func TestBufferedStdout(t *testing.T) {
	needStdbuf(t)
	for _, tc := range []struct {
		name     string
		env      []string
		min, max int
	}{
		{"plain", os.Environ(), 256, 1 << 20},
		{"buffered", BufferedStdout(os.Environ()), 1, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n := sedWrites(t, tc.env); n < tc.min || n > tc.max {
				t.Errorf("sed made %d write calls for 2 MiB, want %d..%d", n, tc.min, tc.max)
			}
		})
	}
}

func sedWrites(t *testing.T, env []string) int {
	cmd := exec.Command("sed", "-n", "p")
	cmd.Env = env
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		in.Close()
		io.Copy(io.Discard, out)
		cmd.Wait()
	}()
	line := bytes.Repeat([]byte("a"), 99)
	line = append(line, '\n')
	go func() {
		for i := 0; i < 30000; i++ {
			if _, err := in.Write(line); err != nil {
				return
			}
		}
	}()
	if _, err := io.CopyN(io.Discard, out, 2<<20); err != nil {
		t.Fatalf("reading sed's output: %v", err)
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/io")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(stat), "\n") {
		if v, ok := strings.CutPrefix(l, "syscw: "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no syscw in /proc/PID/io:\n%s", stat)
	return 0
}

func TestBufferedStdoutKeepsPreloads(t *testing.T) {
	needStdbuf(t)
	env := BufferedStdout([]string{"A=1", "LD_PRELOAD=/x/y.so", "_STDBUF_O=0"})
	want := []string{"A=1", "LD_PRELOAD=/x/y.so " + stdbufLib(), "_STDBUF_O=262144"}
	if strings.Join(env, ",") != strings.Join(want, ",") {
		t.Errorf("env = %q, want %q", env, want)
	}
}

// needStdbuf fails the test where coreutils' libstdbuf.so is missing: the
// backup then runs without it, and these tests would prove nothing.
func needStdbuf(t *testing.T) {
	t.Helper()
	if stdbufLib() == "" {
		t.Fatalf("coreutils' libstdbuf.so is not in %v: apt-get install coreutils", stdbufLibs)
	}
}

// TestBufferedStdoutRefuses: no library, or one anyone may rewrite, and
// the environment stays as it was.
func TestBufferedStdoutRefuses(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "libstdbuf.so")
	if err := os.WriteFile(lib, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := stdbufLibs
	t.Cleanup(func() { stdbufLibs = saved })
	env := []string{"A=1", "LD_PRELOAD=/x/y.so"}
	for _, tc := range []struct {
		name string
		mode os.FileMode
		libs []string
	}{
		{"missing", 0o644, []string{lib + ".missing"}},
		{"group-writable", 0o664, []string{lib}},
		{"world-writable", 0o646, []string{lib}},
	} {
		if err := os.Chmod(lib, tc.mode); err != nil {
			t.Fatal(err)
		}
		stdbufLibs = tc.libs
		if got := BufferedStdout(env); strings.Join(got, ",") != strings.Join(env, ",") {
			t.Errorf("%s: env = %q, want it unchanged", tc.name, got)
		}
	}
	os.Chmod(lib, 0o644)
	if got := BufferedStdout(env); !strings.Contains(strings.Join(got, ","), "LD_PRELOAD=/x/y.so "+lib) {
		t.Errorf("an owner-only library was not preloaded: %q", got)
	}
}
