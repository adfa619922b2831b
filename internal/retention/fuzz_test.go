package retention

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"mbackup/internal/snapshot"
)

// fuzzNow is the time FuzzPlan measures ages from.
var fuzzNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// fuzzSnapshots decodes data into snapshots, 6 bytes each: an id number;
// the age in minutes before fuzzNow as a signed big-endian int32 (negative:
// in the future); and a byte whose low 3 bits give the status (0-3
// complete, 4-6 partial, 7 an unknown one) and high 4 bits the time zone
// the time is written in, UTC-8h to UTC+7h.
func fuzzSnapshots(data []byte) []Snapshot {
	var snaps []Snapshot
	for ; len(data) >= 6; data = data[6:] {
		age := time.Duration(int32(binary.BigEndian.Uint32(data[1:5]))) * time.Minute
		zone := time.FixedZone("", (int(data[5]>>4)-8)*3600)
		s := Snapshot{ID: fmt.Sprintf("s%03d", data[0]), Time: fuzzNow.Add(-age).In(zone)}
		switch st := data[5] & 7; {
		case st < 4:
			s.Status = StatusComplete
		case st < 7:
			s.Status = StatusPartial
		default:
			s.Status = "incomplete"
		}
		snaps = append(snaps, s)
	}
	return snaps
}

// fuzzSnap encodes one snapshot for the seeds of FuzzPlan.
func fuzzSnap(id byte, age time.Duration, status byte) []byte {
	b := []byte{id, 0, 0, 0, 0, status}
	binary.BigEndian.PutUint32(b[1:5], uint32(int32(age/time.Minute)))
	return b
}

func fuzzSnaps(snaps ...[]byte) []byte {
	var b []byte
	for _, s := range snaps {
		b = append(b, s...)
	}
	return b
}

// FuzzPlan runs Plan on snapshots and policies decoded from the fuzz input.
// When Plan succeeds there is exactly one decision per snapshot, newest
// first, each with a reason; the newest complete snapshot and the newest
// keep_last complete ones not dated in the future are kept; every one
// dated more than snapshot.FutureSkew ahead is kept; nothing younger than
// keep_within is deleted; and a partial snapshot older than that and not
// in the future is. It fails exactly on an invalid policy, a duplicate id
// or an unknown status.
func FuzzPlan(f *testing.F) {
	const day = 24 * time.Hour
	f.Add([]byte{}, int32(14*24*60), int16(2), int16(0), int16(0), int16(0))
	f.Add(fuzzSnaps(fuzzSnap(1, time.Hour, 0), fuzzSnap(2, 13*time.Hour, 4), fuzzSnap(3, 15*day, 0),
		fuzzSnap(4, 40*day, 0), fuzzSnap(5, 400*day, 0x50)), int32(14*24*60), int16(2), int16(7), int16(4), int16(12))
	f.Add(fuzzSnaps(fuzzSnap(1, 30*day, 4), fuzzSnap(2, 60*day, 4), fuzzSnap(3, 90*day, 0)),
		int32(7*24*60), int16(1), int16(0), int16(0), int16(0))
	f.Add(fuzzSnaps(fuzzSnap(1, -2*time.Hour, 0), fuzzSnap(2, -2*time.Hour, 0), fuzzSnap(3, 0, 0xf4)),
		int32(0), int16(1), int16(1), int16(1), int16(1))
	f.Add(fuzzSnaps(fuzzSnap(1, day, 0), fuzzSnap(1, 2*day, 0)), int32(60), int16(1), int16(0), int16(0), int16(0))
	f.Add(fuzzSnaps(fuzzSnap(1, day, 7)), int32(60), int16(1), int16(0), int16(0), int16(0))
	f.Add(fuzzSnaps(fuzzSnap(1, day, 0)), int32(60), int16(0), int16(0), int16(0), int16(0))
	f.Add(fuzzSnaps(fuzzSnap(1, day, 0)), int32(-1), int16(3), int16(-1), int16(0), int16(0))
	f.Add(fuzzSnaps(fuzzSnap(1, -400*24*time.Hour, 0), fuzzSnap(2, time.Hour, 0), fuzzSnap(3, -61*time.Minute, 4),
		fuzzSnap(4, -59*time.Minute, 4)), int32(0), int16(1), int16(1), int16(0), int16(0))
	f.Add(fuzzSnaps(fuzzSnap(9, 23*time.Hour+59*time.Minute, 0x00), fuzzSnap(8, 24*time.Hour, 0xf0),
		fuzzSnap(7, 7*day, 0x80), fuzzSnap(6, 31*day, 0x10)), int32(1), int16(1), int16(2), int16(2), int16(2))

	f.Fuzz(func(t *testing.T, data []byte, withinMin int32, last, daily, weekly, monthly int16) {
		snaps := fuzzSnapshots(data)
		p := Policy{KeepWithin: time.Duration(withinMin) * time.Minute, KeepLast: int(last),
			KeepDaily: int(daily), KeepWeekly: int(weekly), KeepMonthly: int(monthly)}
		ds, err := Plan(snaps, fuzzNow, p)

		wantErr := p.KeepLast < 1 || p.KeepWithin < 0 || p.KeepDaily < 0 || p.KeepWeekly < 0 || p.KeepMonthly < 0
		seen := map[string]bool{}
		for _, s := range snaps {
			wantErr = wantErr || seen[s.ID] || (s.Status != StatusComplete && s.Status != StatusPartial)
			seen[s.ID] = true
		}
		if err != nil {
			if !wantErr {
				t.Fatalf("Plan(%v, %+v) failed: %v", snaps, p, err)
			}
			if ds != nil {
				t.Fatalf("Plan failed with %v but decided %v", err, ds)
			}
			return
		}
		if wantErr {
			t.Fatalf("Plan(%v, %+v) succeeded, want an error", snaps, p)
		}

		if len(ds) != len(snaps) {
			t.Fatalf("%d decisions for %d snapshots", len(ds), len(snaps))
		}
		decided := map[string]Decision{}
		for _, d := range ds {
			if _, dup := decided[d.ID]; dup {
				t.Fatalf("two decisions for %s", d.ID)
			}
			decided[d.ID] = d
			if d.Reason == "" {
				t.Fatalf("decision without a reason: %+v", d)
			}
		}
		var newest *Snapshot
		future := func(s Snapshot) bool { return s.Time.Sub(fuzzNow) > snapshot.FutureSkew }
		for i, s := range snaps {
			d, ok := decided[s.ID]
			if !ok {
				t.Fatalf("no decision for %s", s.ID)
			}
			if !d.Time.Equal(s.Time) || d.Status != s.Status {
				t.Fatalf("decision %+v for snapshot %+v", d, s)
			}
			if future(s) {
				if !d.Keep || !strings.HasPrefix(d.Reason, "dated in the future") {
					t.Fatalf("future-dated %+v: keep %v: %s", s, d.Keep, d.Reason)
				}
				continue
			}
			within := max(fuzzNow.Sub(s.Time), 0) < p.KeepWithin
			if within && !d.Keep {
				t.Fatalf("deleted %+v within keep_within %s: %s", s, p.KeepWithin, d.Reason)
			}
			if !within && s.Status == StatusPartial && d.Keep {
				t.Fatalf("kept partial %+v older than keep_within %s: %s", s, p.KeepWithin, d.Reason)
			}
			if s.Status == StatusComplete && (newest == nil || s.Time.After(newest.Time) ||
				s.Time.Equal(newest.Time) && s.ID > newest.ID) {
				newest = &snaps[i]
			}
		}
		if newest != nil && !decided[newest.ID].Keep {
			t.Fatalf("deleted the newest complete snapshot %+v: %s", *newest, decided[newest.ID].Reason)
		}
		complete := 0
		for i, d := range ds {
			if i > 0 {
				prev := ds[i-1]
				if d.Time.After(prev.Time) || d.Time.Equal(prev.Time) && d.ID > prev.ID {
					t.Fatalf("decisions not newest first: %s before %s", prev.ID, d.ID)
				}
			}
			if d.Status == StatusComplete && !future(d.Snapshot) {
				complete++
				if complete <= p.KeepLast && !d.Keep {
					t.Fatalf("deleted complete #%d %+v with keep_last %d: %s", complete, d.Snapshot, p.KeepLast, d.Reason)
				}
			}
		}
	})
}
