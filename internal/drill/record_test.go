package drill

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"mbackup/internal/storage"
	"mbackup/internal/storage/local"
)

func newStore(t *testing.T) *local.Store {
	t.Helper()
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func record(finished time.Time, ok bool) *Record {
	r := &Record{Host: "verifier", Snapshot: "20261201T120000Z-abcdef", Started: finished.Add(-14 * time.Minute),
		Finished: finished, OK: ok, ComponentSeconds: map[string]float64{"postgres": 600}}
	if !ok {
		r.Error = "drill: postgres/mastodon_production: 1 table's row count differs"
	}
	return r
}

func put(t *testing.T, s storage.Store, key, body string) {
	t.Helper()
	if _, err := s.Put(context.Background(), key, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

func TestRecordLatest(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if f, err := Latest(ctx, s); err != nil || f.Last != nil || f.LastOK != nil {
		t.Fatalf("empty store: %+v, %v", f, err)
	}
	t0 := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	for i, ok := range []bool{true, true, false} {
		if err := Save(ctx, s, record(t0.Add(time.Duration(i)*24*time.Hour), ok)); err != nil {
			t.Fatal(err)
		}
	}
	// Not records: another prefix's object, a nested key.
	put(t, s, "drills/x/y.json", "{}")
	put(t, s, "drillsx.json", "{}")
	f, err := Latest(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if f.Records != 3 || f.Unreadable != 0 {
		t.Errorf("records %d, unreadable %d; want 3, 0", f.Records, f.Unreadable)
	}
	if f.Last == nil || f.Last.OK || !f.Last.Finished.Equal(t0.Add(48*time.Hour)) {
		t.Errorf("last = %+v, want the failed drill of day 3", f.Last)
	}
	if f.LastOK == nil || !f.LastOK.OK || !f.LastOK.Finished.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("last ok = %+v, want the drill of day 2", f.LastOK)
	}
	if d := f.LastOK.Duration(); d != 14*time.Minute {
		t.Errorf("duration %v, want 14m", d)
	}
}

// A record that does not parse, is too large, has another format or was
// copied under another key is skipped, counted, and never taken as a drill.
func TestRecordUnreadable(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	t0 := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	good := record(t0, true)
	if err := Save(ctx, s, good); err != nil {
		t.Fatal(err)
	}
	forged := *record(t0.Add(time.Hour), true)
	forged.Format = RecordFormat
	put(t, s, "drills/20261201T070000Z-20261201T120000Z-abcdef.json", mustJSON(t, &forged)) // key says 07:00, record 06:00
	put(t, s, "drills/20261201T080000Z-20261201T120000Z-abcdef.json", "{not json")
	put(t, s, "drills/20261201T090000Z-20261201T120000Z-abcdef.json", `{"format":2,"ok":true}`)
	put(t, s, "drills/20261201T100000Z-20261201T120000Z-abcdef.json", `{"format":1,"error":"`+strings.Repeat("x", maxRecord)+`"}`)
	f, err := Latest(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if f.Unreadable != 4 || f.LastOK == nil || f.LastOK.Key() != good.Key() || f.Last.Key() != good.Key() {
		t.Errorf("found %+v; want 4 unreadable and the good record as last and last ok", f)
	}
}

func mustJSON(t *testing.T, r *Record) string {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestRecordSaveRefusesBadSnapshotID(t *testing.T) {
	r := record(time.Now(), true)
	r.Snapshot = "../x"
	if err := Save(context.Background(), newStore(t), r); err == nil || !strings.Contains(err.Error(), "not a snapshot id") {
		t.Errorf("Save of snapshot ../x: %v", err)
	}
}

func TestRecordErrorRedacted(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	r := record(time.Now().UTC(), false)
	r.Error = "drill: connect postgres://admin:hunter2@db:5432/x: refused"
	if err := Save(ctx, s, r); err != nil {
		t.Fatal(err)
	}
	f, err := Latest(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.Last.Error, "hunter2") {
		t.Errorf("stored error %q holds the password", f.Last.Error)
	}
}

func TestRecordTrim(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	// 40 weekly drills, the oldest first; only the oldest succeeded.
	var oldestOK *Record
	for i := 0; i < 40; i++ {
		r := record(now.Add(-time.Duration(40-i)*7*24*time.Hour), i == 0)
		if err := Save(ctx, s, r); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			oldestOK = r
		}
	}
	n, err := Trim(ctx, s, now, oldestOK)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := recordKeys(ctx, s)
	// Kept: the 20 newest (older ones are beyond 90 days: 13 weeks), and
	// the only successful drill.
	if n != 19 || len(keys) != 21 || keys[0] != oldestOK.Key() {
		t.Errorf("deleted %d, kept %d (first %s); want 19 deleted, 21 kept with %s", n, len(keys), keys[0], oldestOK.Key())
	}
	f, _ := Latest(ctx, s)
	if f.LastOK == nil || f.LastOK.Key() != oldestOK.Key() {
		t.Errorf("after trim, last ok = %+v", f.LastOK)
	}
}

func TestFoundLine(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	ok, failed := record(now.Add(-5*time.Hour), true), record(now.Add(-2*time.Hour), false)
	for _, tc := range []struct {
		f    Found
		want string
	}{
		{Found{}, ""},
		{Found{Last: ok, LastOK: ok}, "last drill: ok 5h ago, RTO 14m0s (snapshot 20261201T120000Z-abcdef, on verifier)"},
		{Found{Last: failed, LastOK: ok}, "last drill: FAILED 2h ago (snapshot 20261201T120000Z-abcdef, on verifier): " +
			"drill: postgres/mastodon_production: 1 table's row count differs; the last successful one 5h ago"},
		{Found{Last: failed}, "last drill: FAILED 2h ago (snapshot 20261201T120000Z-abcdef, on verifier): " +
			"drill: postgres/mastodon_production: 1 table's row count differs; no drill in the store succeeded"},
	} {
		if got := tc.f.Line(now); got != tc.want {
			t.Errorf("Line:\n got %q\nwant %q", got, tc.want)
		}
	}
}
