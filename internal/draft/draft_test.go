package draft

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"mbackup/internal/newfile"
	"mbackup/internal/testenv"
)

// TestWriteRemovesOnFailure: a secret file that cannot be written undoes
// the ones written before it, and the configuration is not written.
func TestWriteRemovesOnFailure(t *testing.T) {
	dir := t.TempDir()
	d := &Draft{YAML: "host: x\n", Secrets: []Secret{{"a.pass", "a", "1"}, {"missing/b.pass", "b", "2"}}}
	cfg := filepath.Join(dir, "mbackup.yaml")
	if err := d.Write(cfg); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Write = %v, want a missing directory", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

// TestWriteGroup: every file is 0640 of the group; when a file cannot be
// given to it (here the configuration, the last one), every file written
// is removed.
func TestWriteGroup(t *testing.T) {
	dir := t.TempDir()
	d := &Draft{YAML: "host: x\n", Secrets: []Secret{{"a.pass", "a", "1"}, {"b.pass", "b", "2"}}}
	cfg := filepath.Join(dir, "mbackup.yaml")
	if err := d.WriteGroup(cfg, os.Getegid()); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.pass", "b.pass", "mbackup.yaml"} {
		if fi, err := os.Stat(filepath.Join(dir, n)); err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: %v %v, want 0640", n, fi.Mode(), err)
		}
	}
	dir = t.TempDir()
	cfg = filepath.Join(dir, "mbackup.yaml")
	refused := errors.New("operation not permitted")
	err := d.write(cfg, func(p string) error {
		if p == cfg {
			return refused
		}
		return nil
	})
	if !errors.Is(err, refused) {
		t.Fatalf("write = %v, want the refusal", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

// TestWriteRefusesBeforeWriting: one path in the way (here a dangling
// symbolic link at the last secret) and nothing is written.
func TestWriteRefusesBeforeWriting(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "b.pass")); err != nil {
		t.Fatal(err)
	}
	d := &Draft{YAML: "host: x\n", Secrets: []Secret{{"a.pass", "a", "1"}, {"b.pass", "b", "2"}}}
	err := d.Write(filepath.Join(dir, "mbackup.yaml"))
	var ee *newfile.ExistsError
	if !errors.As(err, &ee) || ee.Path != filepath.Join(dir, "b.pass") {
		t.Fatalf("Write = %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("written: %v", ents)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); err == nil {
		t.Error("the link was followed")
	}
}

// TestMastodonErrors: each error names the variable, never its value.
func TestMastodonErrors(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"DB_HOST": "bad\xffsecret"}, "DB_HOST is not valid UTF-8"},
		{map[string]string{"DB_PORT": "54x32-secret"}, "DB_*: the PostgreSQL port is not a port number"},
		{map[string]string{"DATABASE_URL": "mysql://u:secret@h/db"}, "DATABASE_URL is not a postgres:// URL"},
		{map[string]string{"DATABASE_URL": "postgres://u:secret@h:0/db"}, "DATABASE_URL: the PostgreSQL port is not a port number"},
		{map[string]string{"REDIS_URL": "http://u:secret@h/"}, "REDIS_URL is not a redis://, rediss:// or unix:// URL"},
		{map[string]string{"REDIS_URL": "redis://u:secret\xff@h/"}, "REDIS_URL is not valid UTF-8"},
		{map[string]string{"REDIS_PORT": "secret"}, "REDIS_PORT is not a port number"},
		{map[string]string{"REDIS_DB": "-1secret"}, "REDIS_DB is not a database number"},
		{map[string]string{"SIDEKIQ_REDIS_HOST": "h", "SIDEKIQ_REDIS_USER": "secret\xff"}, "SIDEKIQ_REDIS_USER is not valid UTF-8"},
	} {
		_, err := Mastodon(tc.vars, ".env.production")
		if err == nil || err.Error() != tc.want {
			t.Errorf("%v: error %v, want %q", tc.vars, err, tc.want)
		}
	}
}

func TestTrialErrors(t *testing.T) {
	found := []Probe{{Service: "Redis", section: redisSection("redis://h:1/0", "")}}
	if _, err := Trial("/srv/a\xffb", "age1x", "ssh-ed25519 AAAA", found); err == nil || !strings.Contains(err.Error(), "the store path is not valid UTF-8") {
		t.Errorf("invalid UTF-8 store path: %v", err)
	}
	bad := []Probe{{Service: "PostgreSQL", section: pgSection("h", 5432, "u\xff", "")}}
	if _, err := Trial("/srv", "age1x", "ssh-ed25519 AAAA", bad); err == nil || !strings.Contains(err.Error(), "postgres.user is not valid UTF-8") {
		t.Errorf("invalid UTF-8 user: %v", err)
	}
	left := []Probe{{Service: "Redis", Err: errors.New("refused")}}
	if _, err := Trial("/srv", "age1x", "ssh-ed25519 AAAA", left); err == nil || !strings.Contains(err.Error(), "found no PostgreSQL, Redis or MySQL/MariaDB") {
		t.Errorf("nothing found: %v", err)
	}
}

// TestProbeLocalNothingRunning: every service on a closed port is left
// out with the reason, and no probe offers a section.
func TestProbeLocalNothingRunning(t *testing.T) {
	closed := testenv.FreePort(t)
	probes := ProbeLocal(context.Background(), Local{
		PGHost: "127.0.0.1", PGPort: closed, PGUser: "u", PGPassword: "pg-secret",
		RedisURL: "redis://127.0.0.1:" + strconv.Itoa(closed) + "/0", RedisPassword: "redis-secret",
		MySQLHost: "127.0.0.1", MySQLPort: closed, MySQLUser: "u", MySQLPassword: "mysql-secret",
	})
	if len(probes) != 3 {
		t.Fatalf("%d probes", len(probes))
	}
	for i, want := range []string{"PostgreSQL", "Redis", "MySQL"} {
		p := probes[i]
		if p.Service != want || p.Err == nil || p.section != nil {
			t.Errorf("probe %d: %+v", i, p)
		}
		if strings.Contains(p.Err.Error(), "secret") {
			t.Errorf("a password in %v", p.Err)
		}
	}
	if !strings.Contains(probes[0].Err.Error(), "--pg-user") {
		t.Errorf("the PostgreSQL reason has no hint: %v", probes[0].Err)
	}
}
