package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

const fullYAML = `host: mastodon-prod
storage:
  type: b2
  bucket: example-backups
  prefix: mastodon/
  key_id: ${MBACKUP_TEST_KEY_ID}
  application_key_file: b2.key
  chunk_size: 100MB
  concurrent_uploads: 4
  call_timeout: 90s
  stall_timeout: 5m
  upload_timeout: 1d12h
  lock: {mode: compliance, days: 31}
encryption:
  recipients: [` + testRecipient + `]
  recipients_file: recipients.txt
postgres:
  host: /var/run/postgresql
  port: 5433
  user: mastodon
  password_file: pg.pass
  sslmode: verify-full
  databases: [mastodon_production, mastodon_staging]
  globals: false
redis:
  - name: main
    url: redis://localhost:6379/0
  - name: cache
    url: rediss://:${MBACKUP_TEST_REDIS_PW}@cache.internal:6380/1
mysql:
  host: db.internal
  user: backup
  password: "pa$$word"
  databases: [writefreely]
media:
  source:
    endpoint: nyc3.digitaloceanspaces.com
    region: nyc3
    bucket: example-media
    access_key_id: DO00EXAMPLE
    secret_access_key_file: media.key
  prefix: mirror/media/
  delete: true
  max_delete: 1000
  stall_timeout: 90s
schedule:
  backup: "15 3 * * *"
  mirror: "45 */6 * * *"
retention:
  keep_within: 30d
  keep_last: 3
notify:
  slack:
    token: ${MBACKUP_TEST_SLACK_TOKEN}
    channel: C0123456
    on: failure
metrics:
  listen: "[::1]:9100"
`

func TestLoadFullConfig(t *testing.T) {
	dir := t.TempDir()
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	rcpt2 := other.Recipient().String()
	writeFiles(t, dir, map[string]string{
		"b2.key":         "K005secret\n",
		"recipients.txt": "# admins\n\n" + testRecipient + "\n" + rcpt2 + "\n",
		"pg.pass":        "pg-secret\r\n",
		"media.key":      "media-secret",
	})
	t.Setenv("MBACKUP_TEST_KEY_ID", "0051234")
	t.Setenv("MBACKUP_TEST_REDIS_PW", "redis-secret")
	t.Setenv("MBACKUP_TEST_SLACK_TOKEN", "xoxb-token")
	c, warnings, err := loadYAML(t, dir, fullYAML)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	want := wantFull(dir, rcpt2)
	c.src = nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config:\n got: %#v\nwant: %#v", c, want)
	}
	// %#v shows secrets as [redacted]: compare them one by one.
	for i, ref := range c.secretRefs() {
		if got, w := ref.val.Reveal(), want.secretRefs()[i].val.Reveal(); got != w {
			t.Errorf("%s: got %q, want %q", ref.path, got, w)
		}
	}
	rs, err := c.Encryption.AgeRecipients()
	if err != nil || len(rs) != 2 {
		t.Errorf("AgeRecipients: %d recipients, %v", len(rs), err)
	}
}

// wantFull is the Config that fullYAML must load as.
func wantFull(dir, rcpt2 string) *Config {
	return &Config{
		Host: "mastodon-prod",
		Storage: Storage{
			Type: "b2", Bucket: "example-backups", Prefix: "mastodon/", KeyID: "0051234",
			ApplicationKey: NewSecret("K005secret"), ApplicationKeyFile: filepath.Join(dir, "b2.key"),
			ChunkSize: 100e6, PartSize: DefaultChunkSize, ConcurrentUploads: 4,
			CallTimeout: Duration(90 * time.Second), StallTimeout: Duration(5 * time.Minute),
			UploadTimeout: Duration(36 * time.Hour), Lock: &Lock{Mode: LockCompliance, Days: 31},
		},
		Encryption: Encryption{
			Recipients:     []string{testRecipient},
			RecipientsFile: filepath.Join(dir, "recipients.txt"),
			All:            []string{testRecipient, rcpt2},
		},
		Postgres: &Postgres{
			Host: "/var/run/postgresql", Port: 5433, User: "mastodon",
			Password: NewSecret("pg-secret"), PasswordFile: filepath.Join(dir, "pg.pass"),
			SSLMode: "verify-full", Databases: []string{"mastodon_production", "mastodon_staging"},
		},
		Redis: []Redis{
			{Name: "main", URL: "redis://localhost:6379/0"},
			{Name: "cache", URL: "rediss://cache.internal:6380/1", Password: NewSecret("redis-secret")},
		},
		MySQL: &MySQL{Host: "db.internal", Port: 3306, User: "backup", Password: NewSecret("pa$word"),
			Databases: []string{"writefreely"}},
		Media: &Media{
			Source: S3Source{Endpoint: "nyc3.digitaloceanspaces.com", Region: "nyc3", Bucket: "example-media",
				AccessKeyID: "DO00EXAMPLE", SecretAccessKey: NewSecret("media-secret"),
				SecretAccessKeyFile: filepath.Join(dir, "media.key")},
			Prefix: "mirror/media/", Delete: true, MaxDelete: DeleteLimit{Count: 1000},
			StallTimeout: Duration(90 * time.Second),
		},
		Schedule:  Schedule{Backup: "15 3 * * *", Mirror: "45 */6 * * *"},
		Retention: Retention{KeepWithin: Duration(30 * 24 * time.Hour), KeepLast: 3, ShrinkThreshold: DefaultShrinkThreshold},
		Notify: &Notify{Slack: &Slack{Token: NewSecret("xoxb-token"), Channel: "C0123456",
			On: NotifyFailure}},
		Metrics:          Metrics{Listen: "[::1]:9100"},
		DumpStallTimeout: Duration(DefaultDumpStallTimeout),
	}
}

func TestLoadDefaults(t *testing.T) {
	c, warnings, err := loadYAML(t, t.TempDir(), "storage: {type: local}\nencryption: {recipients: ["+testRecipient+"]}\n"+
		"postgres: {}\nmedia:\n  source: {endpoint: http://127.0.0.1:7070, bucket: m, access_key_id: a, secret_access_key: s}\n"+
		"notify:\n  slack: {webhook_url: \"https://hooks.slack.com/services/T/B/X\"}\n")
	if err != nil || len(warnings) != 0 {
		t.Fatal(err, warnings)
	}
	host, _ := os.Hostname()
	checks := []struct {
		name      string
		got, want any
	}{
		{"host", c.Host, host},
		{"storage.path", c.Storage.Path, DefaultLocalPath},
		{"storage.chunk_size", c.Storage.ChunkSize, Size(16 << 20)},
		{"storage.part_size", c.Storage.PartSize, Size(16 << 20)},
		{"storage.concurrent_uploads", c.Storage.ConcurrentUploads, 2},
		{"storage.call_timeout", c.Storage.CallTimeout.Std(), 2 * time.Minute},
		{"storage.stall_timeout", c.Storage.StallTimeout.Std(), 2 * time.Minute},
		{"storage.upload_timeout", c.Storage.UploadTimeout.Std(), 6 * time.Hour},
		{"postgres", *c.Postgres, Postgres{Host: "localhost", Port: 5432, SSLMode: "prefer", Globals: true}},
		{"redis", len(c.Redis), 0},
		{"mysql", c.MySQL == nil, true},
		{"media.prefix", c.Media.Prefix, "media/"},
		{"media.delete", c.Media.Delete, false},
		{"media.max_delete", c.Media.MaxDelete, DeleteLimit{Percent: 5}},
		{"media.stall_timeout", c.Media.StallTimeout.Std(), 2 * time.Minute},
		{"schedule", c.Schedule, Schedule{Backup: "0 */12 * * *", Mirror: "30 */12 * * *"}},
		{"retention", c.Retention, Retention{KeepWithin: Duration(14 * 24 * time.Hour), KeepLast: 2, ShrinkThreshold: DefaultShrinkThreshold}},
		{"notify.slack.on", c.Notify.Slack.On, NotifyAlways},
		{"metrics.listen", c.Metrics.Listen, "127.0.0.1:9787"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadAbsentSections(t *testing.T) {
	c, _, err := loadYAML(t, t.TempDir(), base+"notify: {}\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Postgres != nil || c.MySQL != nil || c.Media != nil || c.Redis != nil || c.Notify.Slack != nil {
		t.Errorf("absent sections configured: %+v", c)
	}
}

func TestLoadPostQuantumOptIn(t *testing.T) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	pq := id.Recipient().String()
	yaml := "storage: {type: local}\nencryption:\n  recipients: [" + pq + "]\n"
	if _, _, err := loadYAML(t, t.TempDir(), yaml); err == nil || !strings.Contains(err.Error(), "post_quantum: true") {
		t.Errorf("without opt-in: %v", err)
	}
	c, _, err := loadYAML(t, t.TempDir(), yaml+"  post_quantum: true\n")
	if err != nil {
		t.Fatal(err)
	}
	if rs, err := c.Encryption.AgeRecipients(); err != nil || len(rs) != 1 {
		t.Errorf("AgeRecipients: %v, %v", rs, err)
	}
}

func TestEnvOnlyInValues(t *testing.T) {
	t.Setenv("MBACKUP_TEST_HOST", "from-env")
	dir := t.TempDir()
	// A reference in a comment is neither expanded nor an error.
	c, _, err := loadYAML(t, dir, "# ${MBACKUP_TEST_UNDEFINED}\nhost: ${MBACKUP_TEST_HOST} # ${MBACKUP_TEST_UNDEFINED}\n"+
		"postgres:\n  databases: [\"$${literal}\", \"a$b\", \"x${MBACKUP_TEST_HOST}y\"]\n"+base)
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "from-env" {
		t.Errorf("host = %q", c.Host)
	}
	if want := []string{"${literal}", "a$b", "xfrom-envy"}; !slices.Equal(c.Postgres.Databases, want) {
		t.Errorf("databases = %q, want %q", c.Postgres.Databases, want)
	}
	// A reference in a key is left as written, so it is an unknown key.
	_, _, err = loadYAML(t, dir, base+"${MBACKUP_TEST_HOST}: x\n")
	if want := "mbackup.yaml:6: ${MBACKUP_TEST_HOST}: unknown key"; err == nil || err.Error() != want {
		t.Errorf("key reference: got %v, want %s", err, want)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "1", "EMPTY": "", "B_2": "two"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tt := range []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"${A}", "1", ""},
		{"x${A}y${B_2}z", "x1ytwoz", ""},
		{"${EMPTY}", "", ""},
		{"$$", "$", ""},
		{"$${A}", "${A}", ""},
		{"$A $", "$A $", ""},
		{"${NOPE}", "", "environment variable NOPE is not set"},
		{"${A", "", "bad variable reference: write ${NAME}, or $$ for a literal $"},
		{"${1A}", "", "bad variable reference: write ${NAME}, or $$ for a literal $"},
		{"${}", "", "bad variable reference: write ${NAME}, or $$ for a literal $"},
	} {
		got, err := expand(tt.in, lookup)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("expand(%q): error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestWorldReadableSecretWarns(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pg.pass": "hunter2\n"})
	if err := os.Chmod(filepath.Join(dir, "pg.pass"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, warnings, err := loadYAML(t, dir, base+"postgres:\n  password_file: pg.pass\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "mbackup.yaml:7: postgres.password_file: " + filepath.Join(dir, "pg.pass") +
		" is readable by every user; chmod o-r it"
	if len(warnings) != 1 || warnings[0].String() != want {
		t.Fatalf("warnings = %v, want [%s]", warnings, want)
	}
	if c.Postgres.Password.Reveal() != "hunter2" {
		t.Errorf("password not read")
	}
	if err := os.Chmod(filepath.Join(dir, "pg.pass"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, warnings, _ := loadYAML(t, dir, base+"postgres:\n  password_file: pg.pass\n"); len(warnings) != 0 {
		t.Errorf("0600 file: warnings %v", warnings)
	}
}

func TestLoadCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"pg.pass": "x"})
	yaml := strings.Replace(base, "/backups", filepath.Join(dir, "backups"), 1) +
		"postgres: {password_file: pg.pass}\nredis: [{name: main, url: redis://localhost}]\n"
	writeFiles(t, dir, map[string]string{"mbackup.yaml": yaml})
	before := listDir(t, dir)
	if _, _, err := Load(filepath.Join(dir, "mbackup.yaml")); err != nil {
		t.Fatal(err)
	}
	if after := listDir(t, dir); !slices.Equal(before, after) {
		t.Errorf("Load changed %s: before %v, after %v", dir, before, after)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		names = append(names, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func TestExampleConfigLoads(t *testing.T) {
	example, err := os.ReadFile("../../configs/mbackup.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"b2.key":         "K005example",
		"recipients.txt": testRecipient + "\n",
		"pg.pass":        "pg",
		"mysql.pass":     "mysql",
		"media.key":      "media",
		"slack.url":      "https://hooks.slack.com/services/T0/B0/X\n",
	})
	t.Setenv("B2_KEY_ID", "0051234")
	t.Setenv("MEDIA_ACCESS_KEY_ID", "DO00EXAMPLE")
	yaml := strings.ReplaceAll(string(example), "/etc/mbackup/", dir+"/")
	c, warnings, err := loadYAML(t, dir, yaml)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	if c.Storage.KeyID != "0051234" || c.Media.Source.AccessKeyID != "DO00EXAMPLE" ||
		c.Notify.Slack.WebhookURL.Reveal() != "https://hooks.slack.com/services/T0/B0/X" ||
		len(c.Encryption.All) != 1 || len(c.Redis) != 1 || c.MySQL == nil || len(c.Files) != 2 {
		t.Errorf("example loaded as %+v", c)
	}
}

func TestInlineSecretInWorldReadableConfigWarns(t *testing.T) {
	t.Setenv("MBACKUP_TEST_PW", "from-env")
	dir := t.TempDir()
	p := filepath.Join(dir, "mbackup.yaml")
	yaml := base + "postgres:\n  password: hunter2\nmysql:\n  password: ${MBACKUP_TEST_PW}\n" +
		"redis:\n  - name: main\n    url: redis://:hunter3@localhost:6379/0\n"
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	c, warnings, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range warnings {
		got = append(got, w.String())
	}
	want := []string{
		"mbackup.yaml:7: postgres.password: a secret written in mbackup.yaml, which every user may read; chmod o-r it, or use password_file",
		"mbackup.yaml:11: redis[0].password: a secret written in mbackup.yaml, which every user may read; chmod o-r it, or use password_file",
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n got: %q\nwant: %q", got, want)
	}
	if c.Redis[0].URL != "redis://localhost:6379/0" || c.Redis[0].Password.Reveal() != "hunter3" {
		t.Errorf("redis url %q not split from its password", c.Redis[0].URL)
	}
}

func TestValidateConfigBuiltInCode(t *testing.T) {
	c := Default()
	c.Host = "h"
	c.Storage.Type = StorageLocal
	c.Storage.Path = "/backups"
	c.Encryption.Recipients = []string{testRecipient}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Storage.Type = "ftp"
	c.Redis = []Redis{{Name: "a/b", URL: "redis://:hunter2@localhost:6379/x"}}
	want := `config: storage.type: unknown storage type "ftp" (want b2, s3 or local)` +
		"\nconfig: redis[0].name: must be letters, digits, '.', '_' or '-'" +
		"\nconfig: redis[0].url: the path must be a database number, like /0"
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate:\n got: %v\nwant: %s", err, want)
	}
}
