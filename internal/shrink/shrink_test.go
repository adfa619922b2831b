package shrink

import (
	"strings"
	"testing"

	"mbackup/internal/dump"
	"mbackup/internal/snapshot"
	"mbackup/internal/stream"
)

const mib = 1 << 20

func art(component, name string, plain int64) snapshot.Artifact {
	return snapshot.Artifact{Component: component, Name: name, Sums: stream.Sums{PlainBytes: plain}}
}

func files(name string, plain, count int64) snapshot.Artifact {
	a := art("files", name, plain)
	a.Info = dump.Info{FileCount: count, FileBytes: plain}
	return a
}

func manifest(id string, arts ...snapshot.Artifact) *snapshot.Manifest {
	return &snapshot.Manifest{ID: id, Status: snapshot.StatusComplete, Artifacts: arts}
}

const prevID, curID = "20261122T000000Z-aaaaaa", "20261122T120000Z-bbbbbb"

func TestCompare(t *testing.T) {
	prev := manifest(prevID,
		art("postgres", "globals", 4000),
		art("postgres", "mastodon_production", 1000*mib),
		art("postgres", "blog", 10*mib),
		art("redis", "main", 100*mib),
		art("mysql", "writefreely", 50*mib),
		files("config", 20*mib, 1000),
	)
	cases := []struct {
		name      string
		cur       *snapshot.Manifest
		threshold int
		want      []string // "component/name" flagged, "+missing" when missing
	}{
		{"same sizes", manifest(curID, prev.Artifacts...), 50, nil},
		{"90% drop", manifest(curID, art("postgres", "globals", 4000), art("postgres", "mastodon_production", 100*mib)), 50,
			[]string{"postgres/mastodon_production", "postgres/blog+missing"}},
		{"40% drop", manifest(curID, art("postgres", "mastodon_production", 600*mib), art("postgres", "blog", 6*mib)), 50, nil},
		{"exactly at the threshold", manifest(curID, art("postgres", "mastodon_production", 500*mib), art("postgres", "blog", 5*mib)), 50, nil},
		{"just below", manifest(curID, art("postgres", "mastodon_production", 500*mib-1), art("postgres", "blog", 5*mib)), 50,
			[]string{"postgres/mastodon_production"}},
		{"threshold 0 disables", manifest(curID, art("postgres", "mastodon_production", 1)), 0, nil},
		{"tiny artifacts are not compared", manifest(curID, art("postgres", "globals", 10), art("postgres", "mastodon_production", 1000*mib), art("postgres", "blog", 10*mib)), 50, nil},
		{"a component left out (--only) is not missing", manifest(curID, art("redis", "main", 100*mib)), 50, nil},
		{"a failed component is a failure, not a shrink", &snapshot.Manifest{ID: curID, Status: snapshot.StatusPartial,
			Artifacts: []snapshot.Artifact{art("postgres", "globals", 4000)},
			Failed:    []snapshot.Failure{{Component: "postgres", Name: "mastodon_production", Reason: "refused"}}}, 50, nil},
		{"files: fewer files, same bytes", manifest(curID, files("config", 20*mib, 10)), 50, []string{"files/config"}},
		{"files: fewer bytes", manifest(curID, files("config", mib, 1000)), 50, []string{"files/config"}},
		{"redis emptied", manifest(curID, art("redis", "main", 9*mib)), 10, []string{"redis/main"}},
		{"redis at 11% with threshold 10", manifest(curID, art("redis", "main", 11*mib)), 10, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, s := range Compare(prev, c.cur, c.threshold, DefaultFloor) {
				if s.Previous != prevID {
					t.Errorf("%s/%s: previous %q", s.Component, s.Name, s.Previous)
				}
				n := s.Component + "/" + s.Name
				if s.Missing {
					n += "+missing"
				}
				got = append(got, n)
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("flagged %q, want %q", got, c.want)
			}
		})
	}
	if got := Compare(nil, prev, 50, DefaultFloor); got != nil {
		t.Errorf("no previous snapshot: flagged %v", got)
	}
}

func TestWarnings(t *testing.T) {
	m := manifest(curID)
	m.Shrunk = []snapshot.Shrink{
		{Component: "postgres", Name: "mastodon_production", BeforeBytes: 1000 * mib, AfterBytes: 10 * mib, Previous: prevID},
		{Component: "postgres", Name: "blog", BeforeBytes: 10 * mib, Missing: true, Previous: prevID},
		{Component: "files", Name: "config", BeforeBytes: 20 * mib, AfterBytes: 2 * mib, BeforeFiles: 1000, AfterFiles: 3, Previous: prevID},
	}
	m.Notes = []string{NotApplied + "x"}
	want := []string{
		"postgres/mastodon_production: 10.0 MiB, was 1000.0 MiB in " + prevID + " (−99 %): retention keeps " + prevID + " until `mbackup accept-shrink " + curID + "`",
		"postgres/blog: missing, was 10.0 MiB in " + prevID + ": retention keeps " + prevID + " until `mbackup accept-shrink " + curID + "`",
		"files/config: 2.0 MiB, was 20.0 MiB in " + prevID + " (−90 %); 3 files, was 1000: retention keeps " + prevID + " until `mbackup accept-shrink " + curID + "`",
		"shrink guard not applied: x",
	}
	got := Warnings(m)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if Warnings(manifest(curID)) != nil || Warnings(nil) != nil {
		t.Error("warnings for a snapshot without flags")
	}
	if h := Held(m); len(h) != 1 || h[0] != prevID {
		t.Errorf("Held = %q", h)
	}
}
