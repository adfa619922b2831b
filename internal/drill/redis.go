package drill

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"mbackup/internal/dump"
	"mbackup/internal/human"

	"mbackup/internal/redisdump"
	"mbackup/internal/restore"
	"mbackup/internal/sandbox"
	"mbackup/internal/snapshot"
)

// redisFile is the name the staged RDB gets in the server's directory.
const redisFile = "dump.rdb"

// redis drills every Redis artifact, one server each.
func (d *drill) redis(ctx context.Context) error {
	var errs []error
	for _, a := range d.m.Artifacts {
		if a.Component == "redis" {
			errs = append(errs, d.redisOne(ctx, a))
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// redisOne stages the RDB (read back and checked as any restore does) into
// a new server's directory, starts the server on it and checks its keys.
func (d *drill) redisOne(ctx context.Context, a snapshot.Artifact) error {
	r, err := sandbox.NewRedis(d.dir, d.opt.Binaries)
	if err != nil {
		st := d.begin("redis", a.Name, StartServer)
		return st.end("", fmt.Errorf("drill: redis: %w", err))
	}
	defer r.Stop()
	targets := restore.Targets{&redisdump.Target{Dir: r.Dir, File: redisFile}}
	steps, err := restore.Plan(d.m, []string{"redis/" + a.Name}, targets, false)
	if err != nil {
		st := d.begin("redis", a.Name, Restore)
		return st.end("", err)
	}
	st := d.begin("redis", a.Name, Restore)
	if _, err := restore.Run(ctx, steps, targets, d.restoreOptions()); err != nil {
		return errors.Join(st.end("", err), stop("redis", r.Stop))
	}
	st.end(fmt.Sprintf("%s RDB read back and staged: sizes and sha256 equal the manifest's", human.Bytes(a.PlainBytes)), nil)
	st = d.begin("redis", a.Name, StartServer)
	t0 := time.Now()
	if err := r.Start(ctx, redisFile); err != nil {
		return errors.Join(st.end("", fmt.Errorf("drill: %s: %w", a.Key, err)), stop("redis", r.Stop))
	}
	st.end("the server loaded the RDB", nil)
	err = d.checkKeys(ctx, r, a, t0)
	return errors.Join(err, stop("redis", r.Stop))
}

// checkKeys compares the keys of each database of the loaded server with
// the bounds its RDB gives for a load started at t0 (Redis drops the keys
// that expired by then), and the RDB's keys with what the manifest
// recorded.
func (d *drill) checkKeys(ctx context.Context, r *sandbox.Redis, a snapshot.Artifact, t0 time.Time) error {
	st := d.begin("redis", a.Name, Check)
	got, err := r.Keyspace(ctx)
	if err != nil {
		return st.end("", fmt.Errorf("drill: %s: INFO keyspace: %w", a.Key, err))
	}
	counts, err := countFile(filepath.Join(r.Dir, redisFile), t0, time.Now())
	var total int64
	for _, n := range got {
		total += n
	}
	if errors.Is(err, redisdump.ErrUncountable) {
		return st.end(fmt.Sprintf("the server loaded %s keys; the RDB's keys could not be counted (%v)", count(total), err), nil)
	} else if err != nil {
		return st.end("", fmt.Errorf("drill: %s: %w", a.Key, err))
	}
	if err := compareKeys(a.Keyspace, counts, got); err != nil {
		return st.end("", fmt.Errorf("drill: %s: %w", a.Key, err))
	}
	line := fmt.Sprintf("%s keys in %d databases, as the RDB holds less those expired by load", count(total), len(got))
	if a.Keyspace == nil {
		line += "; keys not recorded in this snapshot"
	} else {
		line += ", equal to the manifest's"
	}
	return st.end(line, nil)
}

func countFile(path string, t0, t1 time.Time) (redisdump.Counts, error) {
	f, err := os.Open(path)
	if err != nil {
		return redisdump.Counts{}, err
	}
	defer f.Close()
	return redisdump.Count(f, t0, t1)
}

// compareKeys checks the keys the server loaded (got) against the bounds
// of the file's counts, and the file's keys against the manifest's
// (recorded, nil when not recorded).
func compareKeys(recorded []dump.DBKeys, counts redisdump.Counts, got map[int]int64) error {
	var diffs []string
	for _, r := range recorded {
		var inFile int64
		for _, c := range counts.DBs {
			if c.DB == r.DB {
				inFile = c.Keys
			}
		}
		if inFile != r.Keys {
			diffs = append(diffs, fmt.Sprintf("db%d: the RDB holds %d keys, the manifest recorded %d", r.DB, inFile, r.Keys))
		}
	}
	dbs := map[int]bool{}
	for db := range got {
		dbs[db] = true
	}
	for _, c := range counts.DBs {
		dbs[c.DB] = true
	}
	for _, db := range slices.Sorted(maps.Keys(dbs)) {
		lo, hi := counts.Bounds(db)
		if n := got[db]; n < lo || n > hi {
			want := fmt.Sprintf("%d", hi)
			if lo != hi {
				want = fmt.Sprintf("%d to %d", lo, hi)
			}
			diffs = append(diffs, fmt.Sprintf("db%d: the server loaded %d keys, the RDB gives %s", db, n, want))
		}
	}
	if len(diffs) > 0 {
		return errors.New("keys differ: " + strings.Join(diffs, "; "))
	}
	return nil
}
