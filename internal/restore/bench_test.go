package restore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"filippo.io/age"

	"mbackup/internal/dump"
	"mbackup/internal/pgdump"
	"mbackup/internal/snapshot"
	"mbackup/internal/storage/local"
	"mbackup/internal/stream"
	"mbackup/internal/testenv"
)

// BenchmarkVerify measures the preflight's full read of one 64 MiB
// artifact in a local store: a database dump of random bytes, whose
// stored bytes are hashed, and MySQL SQL (rows of random hex), which is
// decrypted, decompressed and scanned as well. MB/s are of plaintext.
func BenchmarkVerify(b *testing.B) {
	dir := b.TempDir()
	s, err := local.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	random := make([]byte, 64<<20)
	rand.Read(random)
	var sql bytes.Buffer
	for i := 0; sql.Len() < 64<<20; i += 1000 {
		sql.WriteString("INSERT INTO t VALUES (1,'" + hex.EncodeToString(random[i:i+1000]) + "');\n")
	}
	os.MkdirAll(filepath.Join(dir, "x"), 0o700)
	for _, c := range []struct {
		name, component string
		plain           []byte
	}{{"dump hashed", "postgres", random}, {"sql decrypted+scanned", "mysql", sql.Bytes()}} {
		var sealed bytes.Buffer
		w, _ := stream.Seal(&sealed, id.Recipient())
		w.Write(c.plain)
		w.Close()
		key := "x/" + c.component + ".zst.age"
		os.WriteFile(filepath.Join(dir, key), sealed.Bytes(), 0o600)
		a := snapshot.Artifact{Key: key, Component: c.component, Name: "db", Sums: w.Sums()}
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.plain)))
			for b.Loop() {
				if _, err := verify(context.Background(), s, a, []age.Identity{id}, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRestoreProgress restores a pgbench-like database (pgbench -i
// -s 10: one million accounts, their primary keys) from a local store
// with OnProgress off and on, in alternating rounds, and reports the
// median of the per-round ratios on/off ("on/off"), so that a drift of
// the machine's speed cancels out. The callback formats a line as a
// progress bar would.
func BenchmarkRestoreProgress(b *testing.B) {
	src, dst := testenv.StartPostgres(b), testenv.StartPostgres(b)
	src.Exec(b, "postgres", "CREATE DATABASE bench")
	src.Exec(b, "bench", `CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int, filler char(88));
		CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int, tbalance int, filler char(84));
		CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84));
		CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22));
		INSERT INTO pgbench_branches SELECT g, 0 FROM generate_series(1, 10) g;
		INSERT INTO pgbench_tellers SELECT g, (g - 1) / 10 + 1, 0 FROM generate_series(1, 100) g;
		INSERT INTO pgbench_accounts SELECT g, (g - 1) / 100000 + 1, 0, '' FROM generate_series(1, 1000000) g;`)
	store, err := local.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	pc := *pgConfig(src)
	d, err := pgdump.Open(context.Background(), pc)
	if err != nil {
		b.Fatal(err)
	}
	tk := &snapshot.Taker{Store: store, Recipients: []age.Recipient{id.Recipient()}, RecipientIDs: []string{id.Recipient().String()}, Host: "bench"}
	m, err := tk.Take(context.Background(), []snapshot.Job{{Component: "postgres", Name: "bench", Ext: ".dump",
		Produce: func(ctx context.Context, w io.Writer) (dump.Info, error) { return d.Dump(ctx, "bench", w) }}})
	if err != nil {
		b.Fatal(err)
	}
	targets := Targets{pgConfig(dst)}
	steps, err := Plan(m, nil, targets, false)
	if err != nil {
		b.Fatal(err)
	}
	calls := 0
	bar := func(p Progress) {
		calls++
		fmt.Fprintf(io.Discard, "\r%s %s %d/%d %s %.0f/s", p.Step, p.Phase, p.Done, p.Total, p.What, p.Rate())
	}
	restore := func(on func(Progress)) time.Duration {
		dst.Exec(b, "postgres", "DROP DATABASE IF EXISTS bench")
		opt := Options{Store: store, Identities: []age.Identity{id}, StagingDir: b.TempDir(), Jobs: 2, OnProgress: on}
		start := time.Now()
		if _, err := Run(context.Background(), steps, targets, opt); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	restore(nil) // warm-up
	var ratios []float64
	var off, on time.Duration
	for b.Loop() {
		a, c := restore(nil), restore(bar)
		off, on = off+a, on+c
		ratios = append(ratios, c.Seconds()/a.Seconds())
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "on/off")
	b.ReportMetric(off.Seconds()/float64(len(ratios)), "s-off")
	b.ReportMetric(on.Seconds()/float64(len(ratios)), "s-on")
	b.ReportMetric(float64(calls)/float64(len(ratios)), "calls/restore")
}
