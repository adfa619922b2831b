package restore

import (
	"strings"
	"testing"

	"mbackup/internal/mysqldump"
	"mbackup/internal/pgdump"
	"mbackup/internal/redisdump"
	"mbackup/internal/snapshot"
)

// TestAs renames the one database of a plan, its sentence recomputed, and
// refuses every selection that is not one database and every name its
// engine cannot hold, naming what is wrong.
func TestAs(t *testing.T) {
	m := &snapshot.Manifest{ID: "20261122T120000Z-abcdef", Artifacts: []snapshot.Artifact{
		{Key: "snapshots/x/postgres/globals.sql.zst.age", Component: "postgres", Name: "globals"},
		{Key: "snapshots/x/postgres/mastodon_production.dump.zst.age", Component: "postgres", Name: "mastodon_production"},
		{Key: "snapshots/x/postgres/side.dump.zst.age", Component: "postgres", Name: "side"},
		{Key: "snapshots/x/mysql/writefreely.sql.zst.age", Component: "mysql", Name: "writefreely"},
		{Key: "snapshots/x/redis/main.rdb.zst.age", Component: "redis", Name: "main"},
	}}
	all := Targets{&pgdump.Config{User: "postgres"}, &mysqldump.Config{User: "root"}, &redisdump.Target{Dir: "/var/lib/redis"}}
	plan := func(only ...string) []Step {
		t.Helper()
		steps, err := Plan(m, only, all, false)
		if err != nil {
			t.Fatal(err)
		}
		return steps
	}
	for _, tc := range []struct{ only, name, want string }{
		{"postgres/mastodon_production", "mastodon_check", "create database mastodon_check on PostgreSQL"},
		{"mysql/writefreely", "wf_check", "create database wf_check on MySQL"},
		{"postgres/side", "odd name/with ' quote", "create database odd name/with ' quote"},
	} {
		steps, err := As(plan(tc.only), tc.name, all, false)
		if err != nil || len(steps) != 1 || steps[0].Database != tc.name || steps[0].Name() != tc.only ||
			!strings.Contains(steps[0].Does, tc.want) || !strings.Contains(steps[0].Does, tc.only+" under another name") {
			t.Errorf("As(%s, %q) = %+v, %v", tc.only, tc.name, steps, err)
		}
	}
	for _, tc := range []struct {
		only []string
		name string
		want string
	}{
		{[]string{"postgres/mastodon_production", "postgres/side"}, "x", "the selection holds postgres/mastodon_production, postgres/side: select exactly one database"},
		{[]string{"postgres"}, "x", "postgres/globals (not a database), postgres/mastodon_production, postgres/side"},
		{[]string{"postgres/globals"}, "x", "the selection holds postgres/globals (not a database)"},
		{[]string{"redis/main"}, "x", "the selection holds redis/main (not a database)"},
		{[]string{"postgres/side"}, "", "a database name cannot be empty"},
		{[]string{"postgres/side"}, "a\x00b", "NUL byte"},
		{[]string{"postgres/side"}, "\xff", "not valid UTF-8"},
		{[]string{"postgres/side"}, strings.Repeat("é", 32), "64 bytes, PostgreSQL takes at most 63"},
		{[]string{"mysql/writefreely"}, strings.Repeat("x", 65), "65 characters, MySQL takes at most 64"},
		{[]string{"mysql/writefreely"}, "trailing ", "ends with a space"},
		{[]string{"mysql/writefreely"}, "emoji😀", "Basic Multilingual Plane"},
		{[]string{"postgres/side"}, "template1", "template1 is a system database of the server"},
		{[]string{"mysql/writefreely"}, "MySQL", "MySQL is a system database of the server"},
		{[]string{"mysql/writefreely"}, "performance_schema", "system database"},
	} {
		steps := plan(tc.only...)
		if got, err := As(steps, tc.name, all, false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("As(%v, %q) = %+v, %v; want %q", tc.only, tc.name, got, err, tc.want)
		}
	}
	// The longest names each engine takes.
	if _, err := As(plan("postgres/side"), strings.Repeat("é", 31)+"x", all, false); err != nil {
		t.Errorf("63 bytes: %v", err)
	}
	if _, err := As(plan("mysql/writefreely"), strings.Repeat("é", 64), all, false); err != nil {
		t.Errorf("64 characters: %v", err)
	}
	steps, err := As(plan("postgres/side"), "side_check", all, true)
	if err != nil || !strings.Contains(steps[0].Does, "pg_restore --clean into database side_check") {
		t.Errorf("As with clean: %+v, %v", steps, err)
	}
}
