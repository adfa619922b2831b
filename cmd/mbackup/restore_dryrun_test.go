package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"mbackup/internal/testenv"
)

// freshTargets are empty servers a restore goes to; Redis stopped.
type freshTargets struct {
	pg    *testenv.Postgres
	redis *testenv.Redis
	maria *testenv.MariaDB
}

func startFresh(t *testing.T) freshTargets {
	f := freshTargets{testenv.StartPostgres(t), testenv.StartRedis(t), testenv.StartMariaDB(t)}
	f.redis.Stop(t)
	t.Setenv("PGPASSWORD", f.pg.Password)
	t.Setenv("MYSQL_PWD", f.maria.Password)
	return f
}

// flags are restore --yes's flags for every component into f.
func (f freshTargets) flags(id string) []string {
	return []string{"--yes", "-i", id,
		"--pg-host", f.pg.Host, "--pg-port", strconv.Itoa(f.pg.Port), "--pg-user", f.pg.User, "--pg-sslmode", "disable",
		"--mysql-host", f.maria.Host, "--mysql-port", strconv.Itoa(f.maria.Port), "--mysql-user", f.maria.User,
		"--redis-dir", f.redis.Dir}
}

// untouched fails the test when anything of the fixture's snapshot reached
// f: a role, a database, a Redis file.
func (f freshTargets) untouched(t *testing.T) {
	t.Helper()
	if got := f.pg.Query(t, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'rst_owner'"); got != "0" {
		t.Error("the role rst_owner was created")
	}
	if got := f.maria.Query(t, "", "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'rst_blog'"); got != "0" {
		t.Error("the MariaDB database rst_blog was created")
	}
	if _, err := os.Stat(filepath.Join(f.redis.Dir, "dump.rdb")); err == nil {
		t.Error("a dump.rdb was written")
	}
}

// TestRestoreDryRun: a dry run of a full snapshot, with --yes, with --json
// and guided, checks everything and writes nothing; a target that would
// refuse makes it exit 1, still writing nothing, its JSON saying why.
func TestRestoreDryRun(t *testing.T) {
	dir, cfg, m := restoreFixture(t)
	f := startFresh(t)
	id := filepath.Join(dir, "id.txt")
	args := append([]string{"--config", cfg, "restore", "--dry-run", "--staging", t.TempDir()}, f.flags(id)...)

	code, out, errOut := mbackup(t, args...)
	t.Logf("restore --dry-run printed:\n%s", out)
	if code != exitOK {
		t.Fatalf("restore --dry-run exited %d:\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"Plan, in this order", "postgres/globals", "postgres/rst_app", "mysql/rst_blog", "redis/main",
		"This is a dry run", "the restore would start. Nothing was written."} {
		if !strings.Contains(out, want) {
			t.Errorf("the dry run lacks %q", want)
		}
	}
	if got := f.pg.Query(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'rst_app'"); got != "0" {
		t.Error("rst_app was created")
	}
	f.untouched(t)

	plan := dryRunPlan(t, exitOK, append(args, "--json"))
	if plan.Snapshot != m.ID || len(plan.Steps) != 4 || !plan.Preflight.OK || len(plan.Preflight.Problems) != 0 ||
		plan.Steps[0].Name != "postgres/globals" || plan.Steps[1].Database != "rst_app" || plan.Steps[3].Component != "redis" {
		t.Errorf("--json plan: %+v", plan)
	}

	// rst_app exists and is not empty on the target: refused, and the
	// globals before it are not applied.
	f.pg.Exec(t, "postgres", "CREATE DATABASE rst_app")
	f.pg.Exec(t, "rst_app", "CREATE TABLE here_before (id int)")
	code, out, errOut = mbackup(t, args...)
	if code != exitError || !strings.Contains(errOut, "not empty") || !strings.Contains(errOut, "--only postgres/rst_app --as rst_app_check") ||
		!strings.Contains(out, "the restore would be refused") {
		t.Fatalf("dry run onto a refused target exited %d:\n%s\n%s", code, out, errOut)
	}
	t.Logf("refused:\n%s", errOut)
	plan = dryRunPlan(t, exitError, append(args, "--json"))
	if plan.Preflight.OK || len(plan.Preflight.Problems) != 1 || !strings.Contains(plan.Preflight.Problems[0], "postgres/rst_app") ||
		!strings.Contains(plan.Preflight.Problems[0], "not empty") {
		t.Errorf("--json of a refused dry run: %+v", plan.Preflight)
	}
	f.untouched(t)
	if got := f.pg.Query(t, "rst_app", "SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'"); got != "here_before" {
		t.Errorf("rst_app holds %q after the dry runs", got)
	}
}

// dryRunPlan runs args, wants exit code, and parses standard output, which
// must hold the JSON and nothing else.
func dryRunPlan(t *testing.T, code int, args []string) dryRunJSON {
	t.Helper()
	got, out, errOut := mbackup(t, args...)
	var plan dryRunJSON
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&plan); err != nil || dec.More() || got != code {
		t.Fatalf("--json exited %d (want %d), %v; standard output:\n%s\nstandard error:\n%s", got, code, err, out, errOut)
	}
	var raw any
	json.Unmarshal([]byte(out), &raw)
	keys := map[string]bool{}
	keyPaths(raw, "", keys)
	checkKeys(t, "restore --dry-run --json", keys, restorePlanKeys, true)
	checkTime(t, "taken", plan.Taken)
	return plan
}

// TestRestoreDryRunGuided: the guided dry run asks what a restore asks,
// leaves Redis out unless told (its RDB would run old Sidekiq jobs again),
// asks for no confirmation and writes nothing.
func TestRestoreDryRunGuided(t *testing.T) {
	dir, cfg, _ := restoreFixture(t)
	f := startFresh(t)
	answers := []string{
		"", filepath.Join(dir, "id.txt"),
		"", "", "", // postgres yes, redis (default no), mysql yes
		f.pg.Host, strconv.Itoa(f.pg.Port), f.pg.User,
		f.maria.Host, strconv.Itoa(f.maria.Port), f.maria.User,
		"", // clean: no
	}
	code, out, errOut := mbackupIn(t, strings.Join(answers, "\n")+"\n", "--config", cfg, "restore", "--dry-run",
		"--pg-sslmode", "disable", "--staging", t.TempDir())
	t.Logf("guided dry run printed:\n%s", out)
	if code != exitOK {
		t.Fatalf("guided dry run exited %d:\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"Restore redis: main", "Sidekiq's queues as they were at backup time", "(y/N)",
		"postgres/rst_app", "mysql/rst_blog", "the restore would start"} {
		if !strings.Contains(out, want) {
			t.Errorf("the guided dry run lacks %q", want)
		}
	}
	if strings.Contains(out, "redis/main:") || strings.Contains(out, `Type "restore"`) {
		t.Error("the guided dry run planned Redis or asked to confirm")
	}
	f.untouched(t)
}
