package lock

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// holders are the pids holding a flock on f's inode, from /proc/locks
// (waiters, the "->" lines, excluded); none when it cannot be read.
func holders(f *os.File) []int {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil
	}
	want := fmt.Sprintf("%02x:%02x:%d", major(st.Dev), minor(st.Dev), st.Ino)
	locks, err := os.Open("/proc/locks")
	if err != nil {
		return nil
	}
	defer locks.Close()
	var pids []int
	sc := bufio.NewScanner(locks)
	for sc.Scan() {
		// 1: FLOCK  ADVISORY  WRITE 3811 fe:00:770363 0 EOF
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[1] != "FLOCK" || fs[5] != want {
			continue
		}
		if pid, err := strconv.Atoi(fs[4]); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// major and minor split a device number as glibc's gnu_dev_major/minor.
func major(dev uint64) uint64 { return (dev>>8)&0xfff | (dev>>32)&^0xfff }
func minor(dev uint64) uint64 { return dev&0xff | (dev>>12)&^0xff }

// describePID names a process: "pid 12 (flock -n x.lock sleep 60, user
// nobody)", or what of it can be read.
func describePID(pid int) string {
	var parts []string
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && len(b) > 0 {
		cmd := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		if len(cmd) > 100 {
			cmd = cmd[:100] + "…"
		}
		parts = append(parts, cmd)
	}
	if uid, ok := procUID(pid); ok {
		parts = append(parts, "user "+userName(uid))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("pid %d", pid)
	}
	return fmt.Sprintf("pid %d (%s)", pid, strings.Join(parts, ", "))
}

// procUID is the effective uid of process pid.
func procUID(pid int) (uint32, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			fs := strings.Fields(rest)
			if len(fs) >= 2 {
				uid, err := strconv.ParseUint(fs[1], 10, 32)
				return uint32(uid), err == nil
			}
		}
	}
	return 0, false
}
