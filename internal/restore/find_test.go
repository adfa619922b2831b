package restore

import (
	"strings"
	"testing"

	"mbackup/internal/mysqldump"
	"mbackup/internal/pgdump"
	"mbackup/internal/snapshot"
)

// TestScratchTargets: each URL goes to the engine of its scheme, a later
// one replaces an earlier one of the same engine, and no error shows a
// password.
func TestScratchTargets(t *testing.T) {
	t.Setenv("PGPASSWORD", "from-env")
	t.Setenv("MYSQL_PWD", "my-env")
	got, err := ScratchTargets([]string{
		"postgres://old@h0:1/",
		"postgresql://postgres@db.example:5433/?sslmode=disable",
		"mariadb://root:pw@127.0.0.1:3307",
	})
	if err != nil || len(got) != 2 {
		t.Fatalf("ScratchTargets = %v, %v", got, err)
	}
	pg, ok := got[0].(*pgdump.Config)
	if !ok || pg.Host != "db.example" || pg.Port != 5433 || pg.User != "postgres" || pg.Password != "from-env" || pg.SSLMode != "disable" {
		t.Errorf("postgres target %+v", got[0])
	}
	my, ok := got[1].(*mysqldump.Config)
	if !ok || my.Host != "127.0.0.1" || my.Port != 3307 || my.User != "root" || my.Password != "pw" {
		t.Errorf("mysql target %+v", got[1])
	}
	for raw, want := range map[string]string{
		"postgres:/nohost": "is not a URL such as",
		"postgres://u:hunter2@h:99999999999999999999/": "bad port",
		"redis://u:hunter2@127.0.0.1:6379":             `scheme "redis" is not postgres or mysql`,
		"mongodb://u:hunter2@h:1":                      `scheme "mongodb"`,
	} {
		_, err := ScratchTargets([]string{raw})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ScratchTargets(%s) = %v; want %q and no password", raw, err, want)
		}
	}
}

// TestPlanUnknownComponent: an artifact of a component no engine takes is
// refused by name, target or not.
func TestPlanUnknownComponent(t *testing.T) {
	m := &snapshot.Manifest{ID: "20261122T120000Z-abcdef", Artifacts: []snapshot.Artifact{
		{Key: "snapshots/x/ldap/directory.ldif.zst.age", Component: "ldap", Name: "directory"},
	}}
	_, err := Plan(m, nil, Targets{&pgdump.Config{}}, false)
	if err == nil || !strings.Contains(err.Error(), `ldap/directory: unknown component "ldap" (made by a newer mbackup?)`) {
		t.Errorf("Plan = %v", err)
	}
	if Scanner(m.Artifacts[0]) != nil {
		t.Error("a scanner for an unknown component")
	}
}
