package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mbackup/internal/b2test"
	"mbackup/internal/config"
	"mbackup/internal/lock"
	"mbackup/internal/testenv"
)

// TestBackupRefusedWhileLocked: a backup while another run holds the
// store's lock exits 1 naming the holder, and commits nothing.
func TestBackupRefusedWhileLocked(t *testing.T) {
	_, cfgPath := setup(t, "  databases: [postgres]\n")
	cfg, _, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lockStore(cfg.Storage, "mbackup daemon: backup")
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := mbackup(t, "--config", cfgPath, "backup", "--only", "postgres")
	if code != exitError || !strings.Contains(errOut, "another mbackup run is using this store") || !strings.Contains(errOut, "mbackup daemon: backup") {
		t.Fatalf("backup under a held lock exited %d:\n%s", code, errOut)
	}
	if _, out, _ := mbackup(t, "--config", cfgPath, "status"); !strings.Contains(out, "a run is in progress: pid ") || !strings.Contains(out, "newest good snapshot: NONE") {
		t.Errorf("status while locked:\n%s", out)
	}
	l.Release()
	if _, out, _ := mbackup(t, "--config", cfgPath, "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("list after the refused backup: %s", out)
	}
	if code, _, errOut := mbackup(t, "--config", cfgPath, "backup", "--only", "postgres"); code != exitOK {
		t.Fatalf("backup after the lock was released exited %d:\n%s", code, errOut)
	}
}

// TestLocalStoreAliasesShareTheLock: a backup through a symlink or a
// trailing slash to a store that is locked does not start.
func TestLocalStoreAliasesShareTheLock(t *testing.T) {
	dir, cfgPath := setup(t, "  databases: [postgres]\n  globals: false\n")
	cfg, _, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lockStore(cfg.Storage, "mbackup prune")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	store := filepath.Join(dir, "store")
	os.Symlink(store, filepath.Join(dir, "link"))
	text, _ := os.ReadFile(cfgPath)
	for _, alias := range []string{store + "/", filepath.Join(dir, "link"), filepath.Join(dir, "link") + "/.", store + "/../store"} {
		os.WriteFile(cfgPath, []byte(strings.Replace(string(text), "path: "+store+"\n", "path: "+alias+"\n", 1)), 0o600)
		code, _, errOut := mbackup(t, "--config", cfgPath, "backup", "--only", "postgres")
		if code != exitError || !strings.Contains(errOut, "another mbackup run is using this store") || !strings.Contains(errOut, "mbackup prune") {
			t.Errorf("backup into %s while %s is locked exited %d:\n%s", alias, store, code, errOut)
		}
	}
	if ids := committed(t, cfgPath); len(ids) != 0 {
		t.Errorf("committed %v beside the held lock", ids)
	}
}

// useB2 switches a setup config to a store on a b2test server.
func useB2(t *testing.T, dir, cfgPath string) {
	t.Helper()
	srv := b2test.New(t)
	srv.CreateBucket("backups")
	os.WriteFile(filepath.Join(dir, "b2.key"), []byte(srv.AppKey+"\n"), 0o600)
	text, _ := os.ReadFile(cfgPath)
	local := "storage:\n  type: local\n  path: " + filepath.Join(dir, "store") + "\n"
	b2 := fmt.Sprintf("storage:\n  type: b2\n  endpoint: %s\n  bucket: backups\n  prefix: pfx\n  key_id: %s\n  application_key_file: b2.key\n", srv.URL, srv.KeyID)
	if !strings.Contains(string(text), local) {
		t.Fatal("the setup config has no local storage section")
	}
	os.WriteFile(cfgPath, []byte(strings.Replace(string(text), local, b2, 1)), 0o600)
}

// TestLockSymlinkPlanted: a symlink planted at the lock files' names, at
// every place a lock can be (the local store's directory,
// $MBACKUP_LOCK_DIR, /run/mbackup, $XDG_RUNTIME_DIR), makes backup,
// prune, verify and restore fail naming it; the root-owned file it points
// at keeps its content and mode.
func TestLockSymlinkPlanted(t *testing.T) {
	for _, where := range []string{"local store", "env dir", "run dir", "xdg dir"} {
		t.Run(where, func(t *testing.T) {
			dir, cfgPath := setup(t, "  databases: [postgres]\n  globals: false\n")
			oldRun := lock.RunDir
			t.Cleanup(func() { lock.RunDir = oldRun })
			mk := func(name string) string {
				d := filepath.Join(dir, name)
				os.Mkdir(d, 0o700)
				return d
			}
			switch where {
			case "local store":
				mk("store")
			case "env dir":
				useB2(t, dir, cfgPath)
				t.Setenv(lock.DirEnv, mk("env"))
			case "run dir":
				useB2(t, dir, cfgPath)
				t.Setenv(lock.DirEnv, "")
				lock.RunDir = mk("run")
			case "xdg dir":
				useB2(t, dir, cfgPath)
				t.Setenv(lock.DirEnv, "")
				lock.RunDir = filepath.Join(dir, "missing", "mbackup") // cannot be made: no /run
				t.Setenv("XDG_RUNTIME_DIR", mk("xdg"))
			}
			cfg, _, err := config.Load(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			p, err := lockPlace(cfg.Storage)
			if err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(mk("etc"), "shadow")
			os.WriteFile(target, []byte("root's secrets\n"), 0o640)
			os.Chmod(target, 0o640)
			os.Symlink(target, p.Path())
			os.Symlink(target, p.ReadersPath())
			for _, args := range [][]string{
				{"backup", "--only", "postgres"}, {"prune"}, {"verify"},
				{"restore", "--yes", "-i", filepath.Join(dir, "id.txt"), "--only", "postgres"},
			} {
				code, _, errOut := mbackup(t, append([]string{"--config", cfgPath}, args...)...)
				if code != exitError || !strings.Contains(errOut, " is a symbolic link: refused") {
					t.Errorf("%s with a planted symlink exited %d:\n%s", args[0], code, errOut)
				}
				if args[0] == "backup" {
					t.Logf("%s: %s", where, strings.TrimSpace(errOut))
				}
			}
			b, _ := os.ReadFile(target)
			fi, _ := os.Stat(target)
			if string(b) != "root's secrets\n" || fi.Mode().Perm() != 0o640 {
				t.Errorf("the symlink's target changed: %q, %v", b, fi.Mode())
			}
		})
	}
}

// holdAs runs flock(1) on the lock file name of directory dir as uid
// until the test ends; it returns once the lock is held.
func holdAs(t *testing.T, dir, name string, uid int) {
	t.Helper()
	id := fmt.Sprint(uid)
	cmd := exec.Command("setpriv", "--reuid="+id, "--regid="+id, "--clear-groups", "flock", "-n", name, "sleep", "600")
	cmd.Dir = dir // entered as root: the user needs no way through the parents
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out strings.Builder
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("setpriv and flock, from util-linux (apt-get install util-linux): %v", err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	p, err := lock.InDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if h, _ := lock.Holder(p); strings.Contains(h, "user nobody") {
			return
		}
	}
	t.Fatalf("flock(1) as %s never held %s: %s", id, name, out.String())
}

// TestDaemonLockedOutIsAFailure: a scheduled backup kept out by a lock
// another user's process holds is a failure: the metrics count it and
// Slack says who holds the lock. The store's directory belongs to that
// user, as the daemon's own does.
func TestDaemonLockedOutIsAFailure(t *testing.T) {
	slack := newSlackSink(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := daemonConfigMetrics(t, "@every 2s", listen)
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), "\nredis:\n", "\nnotify:\n  slack:\n    webhook_url: "+slack.srv.URL+"/hook\nredis:\n", 1)), 0o600)
	store := filepath.Join(filepath.Dir(cfg), "store")
	os.Mkdir(store, 0o700)
	os.Chown(store, 65534, 65534)
	c, _, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lockStore(c.Storage, "the test") // root makes the lock file, nobody's
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	holdAs(t, store, ".mbackup-lock", 65534)

	d := startDaemon(t, cfg)
	waitFor(t, "a failure posted to Slack", d.log, func() bool { return strings.Contains(slack.last(), "did not start") })
	msg := slack.last()
	for _, want := range []string{"❌ backup of test-host: failure", "lock: another mbackup run is using this store",
		"flock -n .mbackup-lock sleep 600", "user nobody", "this mbackup daemon: backup did not start"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the Slack message lacks %q:\n%s", want, msg)
		}
	}
	t.Logf("Slack: %s", msg)
	waitFor(t, "two runs counted as failures", d.log, func() bool {
		var n int
		m := regexp.MustCompile(`mbackup_runs_total\{result="failure",task="backup"\} (\d+)`).FindStringSubmatch(scrape(t, "http://"+listen+"/metrics"))
		if m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		return n >= 2
	})
	if ids := committed(t, cfg); len(ids) != 0 {
		t.Errorf("committed %v while the lock was held", ids)
	}
}

// TestPruneWaitsForReaders: a prune while a restore holds the readers'
// lock waits, naming it, and deletes nothing until it is released (or
// gives up when its context ends).
func TestPruneWaitsForReaders(t *testing.T) {
	dir, cfgPath := setup(t, "")
	day := 24 * time.Hour
	old := takeAt(t, dir, 20*day)
	takeAt(t, dir, 19*day)
	takeAt(t, dir, time.Hour)
	takeAt(t, dir, 2*time.Hour)
	cfg, _, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := readLockStore(context.Background(), &env{stderr: os.Stderr}, cfg.Storage, "mbackup restore (the test)")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	start := time.Now()
	code := run(ctx, []string{"--config", cfgPath, "prune"}, nil, &out, &errOut)
	if code != exitError || !strings.Contains(errOut.String(), "mbackup prune waits: a restore or verify is reading this store: pid ") ||
		!strings.Contains(errOut.String(), "gave up waiting") {
		t.Errorf("prune beside a restore, cancelled, exited %d:\n%s", code, errOut.String())
	}
	t.Logf("prune gave up after %.1f s:\n%s", time.Since(start).Seconds(), errOut.String())
	if ids := committed(t, cfgPath); len(ids) != 4 {
		t.Fatalf("prune deleted while a restore read the store: %v", ids)
	}

	done := make(chan int, 1)
	var out2, errOut2 syncBuffer
	go func() {
		done <- run(context.Background(), []string{"--config", cfgPath, "prune"}, nil, &out2, &errOut2)
	}()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(errOut2.String(), "mbackup prune waits"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("prune never said it waits:\n%s", errOut2.String())
		}
	}
	if ids := committed(t, cfgPath); len(ids) != 4 || !contains(ids, old) {
		t.Fatalf("prune deleted while a restore read the store: %v", ids)
	}
	reader.Release()
	select {
	case code := <-done:
		if code != exitOK || !strings.Contains(out2.String(), "deleted snapshot "+old) {
			t.Errorf("prune after the restore ended exited %d:\n%s\n%s", code, out2.String(), errOut2.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("prune did not go on once the restore ended")
	}
}

// TestReadersWaitForPrune: a real verify and a real restore take the
// readers' lock: while a prune holds it they wait, saying so.
func TestReadersWaitForPrune(t *testing.T) {
	dir, cfgPath := setup(t, "")
	takeAt(t, dir, time.Hour)
	cfg, _, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	prune, err := pruneLockStore(context.Background(), nil, cfg.Storage, "mbackup prune (the test)")
	if err != nil {
		t.Fatal(err)
	}
	defer prune.Release()
	for _, args := range [][]string{{"verify"}, {"restore", "--yes", "-i", filepath.Join(dir, "id.txt"), "--only", "postgres"}} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var out, errOut syncBuffer
		code := run(ctx, append([]string{"--config", cfgPath}, args...), nil, &out, &errOut)
		cancel()
		if code != exitError || !strings.Contains(errOut.String(), "mbackup "+args[0]+" waits: a prune is running") {
			t.Errorf("%s during a prune exited %d:\n%s", args[0], code, errOut.String())
		}
	}
}

// TestDaemonPruneSkipsDuringRestore: the daemon's prune after a backup
// skips while a restore reads the store (a line in the summary, not a
// failure), and prunes at the next backup after it ended.
func TestDaemonPruneSkipsDuringRestore(t *testing.T) {
	slack := newSlackSink(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := daemonConfigMetrics(t, "@every 2s", listen)
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), "\nredis:\n",
		"\nretention:\n  keep_within: 0\n  keep_last: 1\nnotify:\n  slack:\n    webhook_url: "+slack.srv.URL+"/hook\nredis:\n", 1)), 0o600)
	c, _, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := readLockStore(context.Background(), &env{stderr: os.Stderr}, c.Storage, "mbackup restore (the test)")
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, cfg)
	waitFor(t, "two backups beside the restore", d.log, func() bool { return len(committed(t, cfg)) >= 2 })
	if !strings.Contains(d.log.String(), "prune skipped") || !strings.Contains(slack.last(), "prune skipped (the next backup prunes): lock: a restore or verify is reading this store") {
		t.Errorf("no prune skipped in the log or Slack:\n%s\n%s", d.log.String(), slack.last())
	}
	m := scrape(t, "http://"+listen+"/metrics")
	for _, want := range []string{`mbackup_runs_total{result="failure",task="backup"} 0`, `mbackup_runs_total{result="failure",task="prune"} 0`} {
		if !strings.Contains(m, want) {
			t.Errorf("a skipped prune counted as a failure: /metrics lacks %s", want)
		}
	}
	reader.Release()
	waitFor(t, "a prune after the restore ended", d.log, func() bool { return strings.Contains(d.log.String(), "prune: deleted snapshot") })
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestDaemonVerifyRefusedLock: the daemon's verify takes the readers'
// lock; when its file is refused (a planted symlink), the run is a
// failure for the metrics and Slack, and the target is untouched.
func TestDaemonVerifyRefusedLock(t *testing.T) {
	slack := newSlackSink(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := daemonConfigMetrics(t, "0 0 1 1 *", listen)
	text, _ := os.ReadFile(cfg)
	text = []byte(strings.Replace(string(text), "\nredis:\n", "\nnotify:\n  slack:\n    webhook_url: "+slack.srv.URL+"/hook\nredis:\n", 1))
	os.WriteFile(cfg, []byte(strings.Replace(string(text), "schedule:\n", "schedule:\n  verify: \"@every 1s\"\n", 1)), 0o600)
	store := filepath.Join(filepath.Dir(cfg), "store")
	os.Mkdir(store, 0o700)
	target := filepath.Join(filepath.Dir(cfg), "precious")
	os.WriteFile(target, []byte("root's data\n"), 0o600)
	os.Symlink(target, filepath.Join(store, ".mbackup-readers"))
	d := startDaemon(t, cfg)
	waitFor(t, "the start", d.log, func() bool { return strings.Contains(d.log.String(), "daemon started") })
	waitFor(t, "a verify failure counted", d.log, func() bool {
		return !strings.Contains(scrape(t, "http://"+listen+"/metrics"), `mbackup_runs_total{result="failure",task="verify"} 0`)
	})
	waitFor(t, "the verify failure posted", d.log, func() bool {
		return strings.Contains(slack.last(), "❌ verify of test-host: failure") && strings.Contains(slack.last(), ".mbackup-readers is a symbolic link: refused")
	})
	if b, _ := os.ReadFile(target); string(b) != "root's data\n" {
		t.Errorf("the symlink's target changed: %q", b)
	}
}
