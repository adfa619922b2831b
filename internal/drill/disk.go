package drill

import (
	"fmt"
	"math"
	"os"
	"syscall"

	"mbackup/internal/human"
	"mbackup/internal/snapshot"
)

// serverBytes is what a fresh server's own files take: a PostgreSQL
// cluster about 40 MB, MariaDB's system tables and InnoDB files about
// 120 MB; rounded up.
const serverBytes = 256 << 20

// restoreFactor is how much larger a restored database is than its dump's
// plaintext (see the package comment).
const restoreFactor = 2

// estimate is the disk one component needs at its peak, and why.
type estimate struct {
	component string
	bytes     int64
	why       string
}

// estimates returns the peak of each component of m.
func estimates(m *snapshot.Manifest) []estimate {
	var out []estimate
	for _, c := range []string{"postgres", "mysql"} {
		var sum, largest int64
		n := 0
		for _, a := range m.Artifacts {
			if a.Component == c {
				sum += a.PlainBytes
				largest = max(largest, a.PlainBytes)
				n++
			}
		}
		if n == 0 {
			continue
		}
		out = append(out, estimate{c, restoreFactor*sum + largest + serverBytes,
			fmt.Sprintf("%d× the %s of plaintext of its %d artifacts, the largest staged (%s) and %s for the server",
				restoreFactor, human.Bytes(sum), n, human.Bytes(largest), human.Bytes(serverBytes))})
	}
	for _, a := range m.Artifacts {
		if a.Component == "redis" {
			out = append(out, estimate{"redis/" + a.Name, 2 * a.PlainBytes,
				fmt.Sprintf("its %s RDB staged, then loaded", human.Bytes(a.PlainBytes))})
		}
	}
	return out
}

// checkDisk refuses a drill whose largest component would not fit in the
// free space of opt.Dir, less opt.Reserve.
func checkDisk(m *snapshot.Manifest, opt Options) error {
	dir := opt.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("drill: free space of %s: %w", dir, err)
	}
	free := int64(min(st.Bavail, math.MaxInt64/uint64(max(st.Bsize, 1)))) * st.Bsize
	var peak estimate
	for _, e := range estimates(m) {
		if e.bytes < 0 {
			return fmt.Errorf("drill: %s: the manifest records a negative size", e.component)
		}
		if e.bytes > peak.bytes {
			peak = e
		}
	}
	if need := peak.bytes + opt.Reserve; need > free {
		return fmt.Errorf("drill: %s has %s free, but restoring %s needs an estimated %s (%s) and %s are to be kept free: "+
			"free space there or drill in a directory on a larger file system",
			dir, human.Bytes(free), peak.component, human.Bytes(peak.bytes), peak.why, human.Bytes(opt.Reserve))
	}
	return nil
}
