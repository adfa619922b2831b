package draft

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mbackup/internal/config"
	"mbackup/internal/testenv"
)

// TestProbeLocal probes real PostgreSQL, Redis and MariaDB servers, drafts
// the trial configuration from what answered and loads it: the sections
// name the servers, the passwords are in their 0600 files only.
func TestProbeLocal(t *testing.T) {
	pg, redis, maria := testenv.StartPostgres(t), testenv.StartRedis(t), testenv.StartMariaDB(t)
	probes := ProbeLocal(context.Background(), Local{
		PGHost: pg.Host, PGPort: pg.Port, PGUser: pg.User, PGPassword: pg.Password,
		RedisURL: "redis://" + redis.Addr + "/0", RedisPassword: redis.Password,
		MySQLHost: maria.Host, MySQLPort: maria.Port, MySQLUser: maria.User, MySQLPassword: maria.Password,
	})
	for _, p := range probes {
		if p.Err != nil || !strings.HasPrefix(p.Summary, "found ") {
			t.Fatalf("%s: %q, %v", p.Service, p.Summary, p.Err)
		}
	}
	dir := t.TempDir()
	recipient, signer := testKeys(t, dir)
	d, err := Trial(filepath.Join(dir, "backups"), recipient, signer, probes)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "mbackup.yaml")
	if err := d.Write(cfg); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{pg.Password, redis.Password, maria.Password} {
		if strings.Contains(d.YAML, s) {
			t.Error("a password in the configuration")
		}
	}
	for _, f := range []string{"pg.pass", "redis.pass", "mysql.pass", "mbackup.yaml"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}
	c, _, err := config.Load(cfg)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, d.YAML)
	}
	if p := c.Postgres; p.Host != pg.Host || p.Port != pg.Port || p.User != pg.User || p.Password.Reveal() != pg.Password {
		t.Errorf("postgres: %+v", p)
	}
	if len(c.Redis) != 1 || c.Redis[0].URL != "redis://"+redis.Addr+"/0" || c.Redis[0].Password.Reveal() != redis.Password {
		t.Errorf("redis: %+v", c.Redis)
	}
	if m := c.MySQL; m.Host != maria.Host || m.Port != maria.Port || m.User != maria.User || m.Password.Reveal() != maria.Password {
		t.Errorf("mysql: %+v", m)
	}
}
