package redisdump

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// TestRestoreRDBFile dumps every key type with TTLs, restores the RDB into
// a new data directory, starts a server there and finds the same data.
func TestRestoreRDBFile(t *testing.T) {
	src := startServer(t, "enable-debug-command local", nil)
	fill(t, src)
	var rdb bytes.Buffer
	if _, err := Dump(context.Background(), src.config("main"), &rdb); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dump.rdb"), []byte("an old file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RestoreRDBFile(bytes.NewReader(rdb.Bytes()), dir, ""); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "dump.rdb"))
	if err != nil || fi.Mode() != 0o600 || fi.Size() != int64(rdb.Len()) {
		t.Fatalf("dump.rdb: %v, %v", fi, err)
	}
	checkOnlyFiles(t, dir, "dump.rdb")

	loaded := startServerIn(t, dir, "enable-debug-command local", nil)
	if want, got := src.do(t, "DEBUG", "DIGEST"), loaded.do(t, "DEBUG", "DIGEST"); got != want || strings.Trim(want, "0") == "" {
		t.Errorf("DEBUG DIGEST %s after the restore; want %s", got, want)
	}
	for _, db := range []string{"0", "3"} {
		want, got := contents(t, src, db), contents(t, loaded, db)
		if !slices.Equal(want, got) {
			t.Errorf("db %s after the restore:\n%q\nwant\n%q", db, got, want)
		}
		t.Logf("db %s: %d keys, same types, DUMP payloads and expiry times", db, len(got))
	}

	// The server now runs in dir: a restore is refused and changes nothing.
	before, _ := os.ReadFile(filepath.Join(dir, "dump.rdb"))
	err = RestoreRDBFile(bytes.NewReader(rdb.Bytes()), dir, "dump.rdb")
	for _, want := range []string{"redisdump: restore RDB into " + dir + ": redis-server (pid ", "is running in this directory",
		"systemctl stop redis-server", "systemctl start redis-server", "appendonly"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("restore into a running server's directory: %v; want %q", err, want)
		}
	}
	t.Log(err)
	if after, _ := os.ReadFile(filepath.Join(dir, "dump.rdb")); !bytes.Equal(before, after) {
		t.Error("dump.rdb changed")
	}
}

// TestRestoreRDBFileRefusals: a damaged RDB, appendonly files and a bad
// file name are refused, and leave the directory as it was.
func TestRestoreRDBFileRefusals(t *testing.T) {
	shared.do(t, "SET", "refusal", "x")
	var out bytes.Buffer
	if _, err := Dump(context.Background(), shared.config("shared"), &out); err != nil {
		t.Fatal(err)
	}
	rdb := out.Bytes()
	flipped := slices.Clone(rdb)
	flipped[len(flipped)/2] ^= 1
	cases := []struct {
		name, file string
		data       []byte
		aof        string
		want       string
	}{
		{"truncated", "dump.rdb", rdb[:len(rdb)-3], "", "is truncated or corrupt"},
		{"flipped bit", "dump.rdb", flipped, "", "is truncated or corrupt"},
		{"not an RDB", "dump.rdb", []byte("*1\r\n$4\r\nPING\r\n"), "", "not the RDB magic"},
		{"empty", "dump.rdb", nil, "", "the stream was empty"},
		{"aof file", "dump.rdb", rdb, "appendonly.aof", "the directory holds appendonly files"},
		{"aof directory", "dump.rdb", rdb, "appendonlydir", "loads its appendonly files, never the RDB"},
		{"path as name", "../dump.rdb", rdb, "", "must be a plain file name"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		if c.aof != "" {
			if err := os.WriteFile(filepath.Join(dir, c.aof), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		err := RestoreRDBFile(bytes.NewReader(c.data), dir, c.file)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "redisdump: restore RDB into "+dir) {
			t.Errorf("%s: %v; want %q", c.name, err, c.want)
			continue
		}
		t.Logf("%s: %v", c.name, err)
		if c.aof != "" {
			checkOnlyFiles(t, dir, c.aof)
		} else {
			checkOnlyFiles(t, dir)
		}
	}
	err := RestoreRDBFile(iotest.ErrReader(os.ErrDeadlineExceeded), t.TempDir(), "")
	if err == nil || !strings.Contains(err.Error(), "write the RDB: ") {
		t.Errorf("failing reader: %v", err)
	}
}

// checkOnlyFiles fails unless dir holds exactly names (plus the config and
// log of a server started there).
func checkOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.Name() != "redis.conf" && e.Name() != "redis.log" {
			got = append(got, e.Name())
		}
	}
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q; want %q", dir, got, names)
	}
}

// TestCheckDataDirNotWritable: a directory this process may not write in
// is refused by the check, which itself writes nothing. As root, only an
// immutable directory (or a read-only mount) is not writable; otherwise
// its permissions are enough.
func TestCheckDataDirNotWritable(t *testing.T) {
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
			if strings.Contains(string(out), "Operation not supported") || strings.Contains(string(out), "Inappropriate ioctl") {
				t.Fatalf("the file system of %s has no immutable flag, which this test needs as root: "+
					"run the tests with TMPDIR on ext4, xfs or btrfs, or as another user: %s", dir, out)
			}
			t.Fatalf("chattr +i (apt-get install -y e2fsprogs): %v: %s", err, out)
		}
		defer exec.Command("chattr", "-i", dir).Run()
	} else if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	err := CheckDataDir(dir)
	for _, want := range []string{"redisdump: check " + dir + ": the directory is not writable (", "restore as root or as its owner"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("CheckDataDir of a directory that is not writable: %v; want %q", err, want)
		}
	}
	t.Log(err)
	err = RestoreRDBFile(strings.NewReader("REDIS0011"), dir, "")
	if err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("RestoreRDBFile: %v", err)
	}
	checkOnlyFiles(t, dir)
}

// TestAfterSteps: the report says to start Redis and that old Sidekiq jobs
// come back with the RDB.
func TestAfterSteps(t *testing.T) {
	got := strings.Join(AfterSteps("main"), "\n")
	for _, want := range []string{"redis/main: start the Redis server", "redis/main: the RDB holds Sidekiq's queues", "runs those jobs again"} {
		if !strings.Contains(got, want) {
			t.Errorf("after-steps %q; want %q", got, want)
		}
	}
}
