package retention

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestPlanGolden runs Plan on every testdata/*.txt and compares its output
// with the .golden file beside it. An input file holds:
//
//	# comments
//	now 2026-11-23T12:00:00Z
//	policy keep_within=14d keep_last=2 keep_daily=7
//	20261122T000000Z-000001 complete
//	20261121T120000Z-000002 partial
//	20261121T000000Z-000003 complete shrunk=20261120T000000Z-000004 accepted
//
// Each snapshot's time is the time of its id; shrunk=ID names a snapshot
// its shrink guard flagged a drop from, accepted marks that drop accepted.
func TestPlanGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".txt")
		t.Run(name, func(t *testing.T) {
			snaps, now, p := readCase(t, file)
			got := render(Plan(snaps, now, p))
			golden := strings.TrimSuffix(file, ".txt") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the plan:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// render writes a plan as the golden files hold it: one line per decision.
func render(ds []Decision, err error) []byte {
	var b bytes.Buffer
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
		return b.Bytes()
	}
	for _, d := range ds {
		verb := "delete"
		if d.Keep {
			verb = "keep"
		}
		fmt.Fprintf(&b, "%-6s  %s  %-8s  %s\n", verb, d.ID, d.Status, d.Reason)
	}
	return b.Bytes()
}

func readCase(t *testing.T, file string) ([]Snapshot, time.Time, Policy) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		snaps []Snapshot
		now   time.Time
		p     Policy
	)
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		var err error
		switch fields[0] {
		case "now":
			now, err = time.Parse(time.RFC3339, fields[1])
		case "policy":
			p, err = parsePolicy(fields[1:])
		default:
			var ts time.Time
			ts, err = time.Parse("20060102T150405Z", strings.SplitN(fields[0], "-", 2)[0])
			snap := Snapshot{ID: fields[0], Time: ts, Status: fields[1]}
			for _, f := range fields[2:] {
				switch k, v, _ := strings.Cut(f, "="); k {
				case "shrunk":
					snap.ShrunkFrom = append(snap.ShrunkFrom, v)
				case "accepted":
					snap.Accepted = true
				default:
					t.Fatalf("%s:%d: unknown snapshot attribute %q", file, line, f)
				}
			}
			snaps = append(snaps, snap)
		}
		if err != nil {
			t.Fatalf("%s:%d: %v", file, line, err)
		}
	}
	if now.IsZero() {
		t.Fatalf("%s: no now line", file)
	}
	return snaps, now, p
}

func parsePolicy(fields []string) (Policy, error) {
	var p Policy
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		if k == "keep_within" {
			d, err := parseDays(v)
			if err != nil {
				return p, err
			}
			p.KeepWithin = d
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, fmt.Errorf("%s: %v", k, err)
		}
		switch k {
		case "keep_last":
			p.KeepLast = n
		case "keep_daily":
			p.KeepDaily = n
		case "keep_weekly":
			p.KeepWeekly = n
		case "keep_monthly":
			p.KeepMonthly = n
		default:
			return p, fmt.Errorf("unknown policy key %q", k)
		}
	}
	return p, nil
}

// parseDays parses a Go duration with an optional leading "Nd": "14d", "1d12h".
func parseDays(s string) (time.Duration, error) {
	var d time.Duration
	if days, rest, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, err
		}
		d, s = time.Duration(n)*24*time.Hour, rest
	}
	if s == "" {
		return d, nil
	}
	r, err := time.ParseDuration(s)
	return d + r, err
}

// TestPlanProperties checks the invariants on random inputs: the newest
// complete snapshot and the newest KeepLast complete ones are kept, nothing
// younger than KeepWithin is deleted, the output is a newest-first
// permutation of the input and every decision has a reason.
func TestPlanProperties(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for seed := range uint64(2000) {
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		snaps := randomSnapshots(r, now)
		p := Policy{
			KeepWithin:  time.Duration(r.IntN(21*24)) * time.Hour,
			KeepLast:    1 + r.IntN(4),
			KeepDaily:   r.IntN(8),
			KeepWeekly:  r.IntN(5),
			KeepMonthly: r.IntN(4),
		}
		ds, err := Plan(snaps, now, p)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if msg := checkPlan(snaps, ds, now, p); msg != "" {
			t.Fatalf("seed %d, policy %+v: %s\n%s", seed, p, msg, render(ds, nil))
		}
	}
}

func randomSnapshots(r *rand.Rand, now time.Time) []Snapshot {
	n := r.IntN(40)
	snaps := make([]Snapshot, n)
	for i := range snaps {
		// Up to 90 days back, a few in the future (clock skew), some
		// sharing a second.
		at := now.Add(-time.Duration(r.IntN(90*24*60)-30) * time.Minute).Truncate(time.Hour / time.Duration(1+r.IntN(4)))
		status := StatusComplete
		if r.IntN(3) == 0 {
			status = StatusPartial
		}
		snaps[i] = Snapshot{ID: fmt.Sprintf("%s-%06x", at.Format("20060102T150405Z"), i), Time: at, Status: status}
	}
	return snaps
}

func checkPlan(snaps []Snapshot, ds []Decision, now time.Time, p Policy) string {
	if len(ds) != len(snaps) {
		return fmt.Sprintf("%d decisions for %d snapshots", len(ds), len(snaps))
	}
	in := map[string]Snapshot{}
	for _, s := range snaps {
		in[s.ID] = s
	}
	completeKept := 0
	for i, d := range ds {
		if !reflect.DeepEqual(in[d.ID], d.Snapshot) {
			return fmt.Sprintf("decision %d: %+v is not an input snapshot (or appears twice)", i, d.Snapshot)
		}
		delete(in, d.ID)
		if i > 0 && ds[i-1].Time.Before(d.Time) {
			return fmt.Sprintf("decision %d is newer than the one before it", i)
		}
		if d.Reason == "" {
			return fmt.Sprintf("%s: no reason", d.ID)
		}
		if !d.Keep && p.KeepWithin > 0 && now.Sub(d.Time) < p.KeepWithin {
			return fmt.Sprintf("%s deleted within keep_within", d.ID)
		}
		if d.Status == StatusComplete {
			if completeKept < p.KeepLast && !d.Keep {
				return fmt.Sprintf("%s deleted: a newest complete snapshot under keep_last", d.ID)
			}
			completeKept++
		}
	}
	return ""
}

func TestPlanRefuses(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ok := Policy{KeepLast: 1}
	for _, c := range []struct {
		name  string
		snaps []Snapshot
		p     Policy
		want  string
	}{
		{"empty policy", nil, Policy{}, "empty policy"},
		{"keep_last 0", nil, Policy{KeepWithin: time.Hour, KeepDaily: 7}, "keep_last is 0"},
		{"negative", nil, Policy{KeepLast: 1, KeepWeekly: -1}, "negative"},
		{"duplicate", []Snapshot{{ID: "a", Time: now, Status: StatusComplete}, {ID: "a", Time: now, Status: StatusPartial}}, ok, "duplicate snapshot id a"},
		{"status", []Snapshot{{ID: "a", Time: now, Status: "incomplete"}}, ok, `unknown status "incomplete"`},
	} {
		ds, err := Plan(c.snaps, now, c.p)
		if err == nil || !strings.Contains(err.Error(), c.want) || ds != nil {
			t.Errorf("%s: %v, %v; want error containing %q", c.name, ds, err, c.want)
		}
	}
}

func TestFormatAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 10 * time.Second: "10s", 45 * time.Minute: "45m", 5*time.Hour + 30*time.Minute: "5h30m",
		14 * 24 * time.Hour: "14d", 74 * time.Hour: "3d2h", 72*time.Hour + 5*time.Minute: "3d",
	} {
		if got := FormatAge(d); got != want {
			t.Errorf("FormatAge(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestPlanFutureDated: a snapshot dated a year ahead, or one whose manifest
// starts then, is kept with a reason and counts for no rule: the real
// newest complete snapshot stays keep_last's #1 and nothing older goes
// because of it.
func TestPlanFutureDated(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	snaps := []Snapshot{
		{ID: "future", Time: now.AddDate(1, 0, 0), Status: StatusComplete},
		{ID: "forged", Time: now.Add(-time.Hour), Status: StatusComplete, Future: true},
		{ID: "real", Time: now.Add(-24 * time.Hour), Status: StatusComplete},
		{ID: "older", Time: now.Add(-48 * time.Hour), Status: StatusComplete},
		{ID: "fast", Time: now.Add(30 * time.Minute), Status: StatusPartial},
	}
	ds, err := Plan(snaps, now, Policy{KeepLast: 1, KeepDaily: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Decision{}
	var order []string
	for _, d := range ds {
		got[d.ID] = d
		order = append(order, d.ID)
	}
	if want := "future fast forged real older"; strings.Join(order, " ") != want {
		t.Errorf("order %q, want %q", order, want)
	}
	for id, want := range map[string]string{
		"future": "keep: dated in the future (365d ahead of now",
		"forged": "keep: dated in the future (its manifest's start",
		"real":   "keep: newest complete #1 of keep_last 1; newest of day 2026-11-22",
		"older":  "delete: not among the newest 1 complete",
		"fast":   "delete: partial",
	} {
		d := got[id]
		verdict := "delete: "
		if d.Keep {
			verdict = "keep: "
		}
		if !strings.HasPrefix(verdict+d.Reason, want) {
			t.Errorf("%s: %s%s; want %s", id, verdict, d.Reason, want)
		}
	}
}
