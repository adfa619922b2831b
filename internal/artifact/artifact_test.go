package artifact

import "testing"

// TestPathKeepsKeys pins the keys of the artifacts every engine writes:
// snapshots taken before this package existed hold exactly these.
func TestPathKeepsKeys(t *testing.T) {
	for r, want := range map[Ref]string{
		{Postgres, "globals", SQL}:              "postgres/globals.sql.zst.age",
		{Postgres, "mastodon_production", Dump}: "postgres/mastodon_production.dump.zst.age",
		{MySQL, "writefreely", SQL}:             "mysql/writefreely.sql.zst.age",
		{Redis, "main", RDB}:                    "redis/main.rdb.zst.age",
		{Postgres, "my db.v2", Dump}:            "postgres/my%20db%2Ev2.dump.zst.age",
		{Postgres, "../x", Dump}:                "postgres/%2E%2E%2Fx.dump.zst.age",
		{"files", "media", "tar"}:               "files/media.tar.zst.age",
	} {
		if got := r.Path(); got != want {
			t.Errorf("%v.Path() = %q, want %q", r, got, want)
		}
		if got := KindOf("snapshots/20261122T120000Z-1a2b3c/" + r.Path()); got != r.Kind {
			t.Errorf("KindOf(%q) = %q, want %q", r.Path(), got, r.Kind)
		}
	}
}

func TestKindOf(t *testing.T) {
	for key, want := range map[string]Kind{
		"snapshots/x/postgres/a.dump.zst.age":    Dump,
		"snapshots/x/postgres/a%2Eb.sql.zst.age": SQL,
		"snapshots/x/redis/main.zst.age":         "",
		"snapshots/x.y/redis/main.zst.age":       "",
		"snapshots/x/redis/main.rdb":             RDB,
	} {
		if got := KindOf(key); got != want {
			t.Errorf("KindOf(%q) = %q, want %q", key, got, want)
		}
	}
	if Dump.Ext() != ".dump" || Kind("").Ext() != "" {
		t.Errorf("Ext: %q %q", Dump.Ext(), Kind("").Ext())
	}
	if s := (Ref{Postgres, "globals", SQL}).String(); s != "postgres/globals" {
		t.Errorf("String() = %q", s)
	}
}
