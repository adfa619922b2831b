package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mbackup/internal/lock"
	"mbackup/internal/testenv"
)

var (
	pg    *testenv.Postgres
	redis *testenv.Redis
	maria *testenv.MariaDB
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mbackup-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Locks of the b2 and s3 stores here, not in /run/mbackup.
	os.Setenv(lock.DirEnv, dir)
	code := 1
	var stops []func()
	if err := launch(dir, &stops); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	for _, stop := range stops {
		stop()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// launch starts one server of each kind for the package's tests.
func launch(dir string, stops *[]func()) error {
	for _, sub := range []string{"pg", "redis", "maria"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	p, stop, err := testenv.LaunchPostgres(filepath.Join(dir, "pg"))
	if err != nil {
		return err
	}
	pg, *stops = p, append(*stops, stop)
	r, stop, err := testenv.LaunchRedis(filepath.Join(dir, "redis"))
	if err != nil {
		return err
	}
	redis, *stops = r, append(*stops, stop)
	m, stop, err := testenv.LaunchMariaDB(filepath.Join(dir, "maria"))
	if err != nil {
		return err
	}
	maria, *stops = m, append(*stops, stop)
	return nil
}

// setup writes an identity, a signing key and a config using a local
// store and the test servers, their passwords in 0600 files; extra is
// appended to the postgres section.
func setup(t *testing.T, extra string) (dir, config string) {
	t.Helper()
	dir = t.TempDir()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"keygen", "-o", filepath.Join(dir, "id.txt")}, nil, &out, &errb); code != 0 {
		t.Fatalf("keygen: %s", errb.String())
	}
	var signer bytes.Buffer
	if code := run(context.Background(), []string{"keygen", "--signing", "-o", filepath.Join(dir, "signing.key")}, nil, &signer, &errb); code != 0 {
		t.Fatalf("keygen --signing: %s", errb.String())
	}
	for name, pw := range map[string]string{"pg.pass": pg.Password, "redis.pass": redis.Password, "maria.pass": maria.Password} {
		os.WriteFile(filepath.Join(dir, name), []byte(pw+"\n"), 0o600)
	}
	config = filepath.Join(dir, "mbackup.yaml")
	text := fmt.Sprintf(`host: test-host
storage:
  type: local
  path: %s
encryption:
  recipients: [%s]
  signing_key_file: signing.key
  signer: "%s"
postgres:
  host: 127.0.0.1
  port: %d
  user: %s
  password_file: pg.pass
  sslmode: disable
%sredis:
  - name: main
    url: redis://%s/0
    password_file: redis.pass
mysql:
  host: 127.0.0.1
  port: %d
  user: %s
  password_file: maria.pass
`, filepath.Join(dir, "store"), strings.TrimSpace(out.String()), strings.TrimSpace(signer.String()), pg.Port, pg.User, extra, redis.Addr, maria.Port, maria.User)
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, config
}

func mbackup(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBackupAndList(t *testing.T) {
	redis.Do(t, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	redis.Do(t, "SET", "k", "v")
	maria.Exec(t, "", "CREATE DATABASE blog")
	maria.Exec(t, "blog", "CREATE TABLE posts (id int PRIMARY KEY); INSERT INTO posts VALUES (1), (2), (3)")
	pg.Exec(t, "postgres", "CREATE DATABASE cli_app")
	pg.Exec(t, "cli_app", "CREATE TABLE t AS SELECT g FROM generate_series(1, 500) g")
	dir, cfg := setup(t, "  databases: [cli_app]\n")
	code, out, errOut := mbackup(t, "--config", cfg, "backup")
	if code != exitOK {
		t.Fatalf("backup exited %d:\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "complete") || !strings.Contains(out, "cli_app") || !strings.Contains(out, "globals") {
		t.Errorf("backup printed:\n%s", out)
	}
	code, out, _ = mbackup(t, "--config", cfg, "list", "--json")
	var entries []listEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil || code != 0 || len(entries) != 1 {
		t.Fatalf("list --json exited %d: %v\n%s", code, err, out)
	}
	m := entries[0].Manifest
	if m.Host != "test-host" || len(m.Artifacts) != 4 || m.Artifacts[1].Tables[0].Rows != 500 {
		t.Fatalf("manifest %+v", m)
	}
	if a := m.Artifacts[2]; a.Component != "redis" || a.Name != "main" || a.ServerVersion == "" {
		t.Errorf("redis artifact %+v", a)
	}
	if a := m.Artifacts[3]; a.Component != "mysql" || a.Name != "blog" || a.Tables[0].Rows != 3 {
		t.Errorf("mysql artifact %+v", a)
	}
	// The artifact is readable by the stock tools.
	key := filepath.Join(dir, "store", m.Artifacts[1].Key)
	cmd := exec.Command("sh", "-c", `age -d -i "$1" "$2" | zstd -d | pg_restore -l`, "sh", filepath.Join(dir, "id.txt"), key)
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "TABLE DATA public t") {
		t.Errorf("restore listing by hand: %v\n%s", err, b)
	}
	code, out, _ = mbackup(t, "--config", cfg, "list")
	if code != 0 || !strings.Contains(out, entries[0].ID) || !strings.Contains(out, "postgres(2),redis(1),mysql(1)") {
		t.Errorf("list exited %d:\n%s", code, out)
	}
}

func TestBackupPartialExitsThree(t *testing.T) {
	pg.Exec(t, "postgres", "CREATE DATABASE cli_ok")
	_, cfg := setup(t, "  databases: [cli_ok, cli_missing]\n  globals: false\n")
	code, out, errOut := mbackup(t, "--config", cfg, "backup")
	if code != exitPartial {
		t.Fatalf("backup exited %d, want %d:\n%s\n%s", code, exitPartial, out, errOut)
	}
	if !strings.Contains(out, "partial") || !strings.Contains(out, `database "cli_missing" does not exist`) {
		t.Errorf("backup printed:\n%s", out)
	}
}

func TestBackupUnreachableServerCommitsNothing(t *testing.T) {
	_, cfg := setup(t, "")
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(text, fmt.Appendf(nil, "port: %d", pg.Port), []byte("port: 1"), 1), 0o600)
	code, _, errOut := mbackup(t, "--config", cfg, "backup", "--only", "postgres")
	if code != exitError || !strings.Contains(errOut, "every job failed, nothing committed") {
		t.Fatalf("backup exited %d:\n%s", code, errOut)
	}
	code, out, _ := mbackup(t, "--config", cfg, "list", "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("list after a failed run: %s", out)
	}
}

func TestBackupBadConfigExitsTwo(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mbackup.yaml")
	os.WriteFile(cfg, []byte("storage:\n  type: local\n  pth: /tmp\n"), 0o600)
	code, _, errOut := mbackup(t, "--config", cfg, "backup")
	if code != exitUsage || !strings.Contains(errOut, "mbackup.yaml:3") {
		t.Fatalf("backup with a typo exited %d:\n%s", code, errOut)
	}
	code, _, errOut = mbackup(t, "--config", filepath.Join(dir, "absent.yaml"), "list")
	if code != exitUsage || !strings.Contains(errOut, "--config FILE") {
		t.Fatalf("list without a config exited %d:\n%s", code, errOut)
	}
	code, _, errOut = mbackup(t, "--config", cfg, "backup", "--only", "postgres,mongo")
	if code != exitUsage || !strings.Contains(errOut, `unknown component "mongo"`) {
		t.Fatalf("backup --only mongo exited %d:\n%s", code, errOut)
	}
}

func TestBackupRedisRefusedIsPartial(t *testing.T) {
	redis.Do(t, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	dir, cfg := setup(t, "  databases: [postgres]\n")
	os.WriteFile(filepath.Join(dir, "redis.pass"), []byte("wrong-password-plugh\n"), 0o600)
	code, out, errOut := mbackup(t, "--config", cfg, "backup")
	if code != exitPartial {
		t.Fatalf("backup exited %d, want %d:\n%s\n%s", code, exitPartial, out, errOut)
	}
	if !strings.Contains(out, "redis    main") || !strings.Contains(out, "FAILED") || strings.Contains(out+errOut, "plugh") {
		t.Errorf("backup printed:\n%s\n%s", out, errOut)
	}
	code, out, _ = mbackup(t, "--config", cfg, "list")
	if code != 0 || !strings.Contains(out, "partial") || !strings.Contains(out, "redis(failed)") {
		t.Errorf("list:\n%s", out)
	}
}
