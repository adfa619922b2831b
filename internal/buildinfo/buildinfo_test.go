package buildinfo

import (
	"runtime/debug"
	"testing"
)

func vcs(rev, when, modified string) *debug.BuildInfo {
	bi := &debug.BuildInfo{}
	for k, v := range map[string]string{"vcs.revision": rev, "vcs.time": when, "vcs.modified": modified} {
		if v != "" {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: k, Value: v})
		}
	}
	return bi
}

func TestVersion(t *testing.T) {
	mod := func(v string) *debug.BuildInfo { return &debug.BuildInfo{Main: debug.Module{Version: v}} }
	for _, c := range []struct {
		stamped string
		bi      *debug.BuildInfo
		want    string
	}{
		{"v1.2.3", mod("v0.9.0"), "v1.2.3"},
		{"", mod("v0.9.0"), "v0.9.0"},
		{"", mod("(devel)"), "devel"},
		{"", mod(""), "devel"},
		{"", nil, "devel"},
	} {
		if got := Version(c.stamped, c.bi); got != c.want {
			t.Errorf("Version(%q, %+v) = %q, want %q", c.stamped, c.bi, got, c.want)
		}
	}
}

func TestCommit(t *testing.T) {
	for _, c := range []struct {
		rev, when string
		bi        *debug.BuildInfo
		wantRev   string
		wantWhen  string
	}{
		{"abc", "2026-11-23T12:00:00Z", vcs("def", "2026-01-01T00:00:00Z", "true"), "abc", "2026-11-23T12:00:00Z"},
		{"", "", vcs("def", "2026-01-01T00:00:00Z", "false"), "def", "2026-01-01T00:00:00Z"},
		{"", "", vcs("def", "", "true"), "def-dirty", ""},
		{"abc", "", vcs("def", "2026-01-01T00:00:00Z", "true"), "abc", "2026-01-01T00:00:00Z"},
		{"", "2026-11-23T12:00:00Z", vcs("", "", "true"), "unknown", "2026-11-23T12:00:00Z"},
		{"", "", nil, "unknown", ""},
	} {
		rev, when := Commit(c.rev, c.when, c.bi)
		if rev != c.wantRev || when != c.wantWhen {
			t.Errorf("Commit(%q, %q, %+v) = %q, %q; want %q, %q", c.rev, c.when, c.bi, rev, when, c.wantRev, c.wantWhen)
		}
	}
}
