package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testRecipient is a valid age X25519 recipient (its identity is unknown).
const testRecipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

// base is a valid configuration of five lines; cases append from line 6.
const base = `storage:
  type: local
  path: /backups
encryption:
  recipients: [` + testRecipient + `]
`

// writeFiles writes files (name -> content) into dir with mode 0600.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// loadYAML writes yaml as dir/mbackup.yaml and loads it.
func loadYAML(t *testing.T, dir, yaml string) (*Config, []Warning, error) {
	t.Helper()
	p := filepath.Join(dir, "mbackup.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(p)
}

// badConfigs are configurations Load must refuse, with the exact error.
var badConfigs = []struct {
	name  string
	yaml  string
	files map[string]string // written into the directory of the config, mode 0600
	dirs  []string          // directories made there
	want  string            // with that directory written as DIR
}{{
	name: "unknown key",
	yaml: "storage:\n  type: local\n  pth: /backups\n",
	want: "mbackup.yaml:3: storage.pth: unknown key",
}, {
	name: "unknown key that is a URL with a password",
	yaml: base + "url:redis://:hunter2@cache:6379/0: 1\n",
	want: "mbackup.yaml:6: url:redis://:[redacted]@cache:6379/0: unknown key",
}, {
	name: "unknown top-level key",
	yaml: base + "retension:\n  keep_last: 3\n",
	want: "mbackup.yaml:6: retension: unknown key",
}, {
	name: "wrong type: string for an integer",
	yaml: base + "postgres:\n  port: fivefourthreetwo\n",
	want: "mbackup.yaml:7: postgres.port: must be an integer",
}, {
	name: "wrong type: string for a list",
	yaml: "storage: {type: local}\nencryption:\n  recipients: " + testRecipient + "\n",
	want: "mbackup.yaml:3: encryption.recipients: must be a list",
}, {
	name: "wrong type: mapping for a string",
	yaml: base + "host: {name: x}\n",
	want: "mbackup.yaml:6: host: must be a string",
}, {
	name: "missing bucket",
	yaml: "storage:\n  type: b2\n  key_id: k\n  application_key: s\n" + base[len("storage:\n  type: local\n  path: /backups\n"):],
	want: "mbackup.yaml:1: storage.bucket: required",
}, {
	name: "bad duration",
	yaml: base + "retention:\n  keep_within: 2 weeks\n",
	want: `mbackup.yaml:7: retention.keep_within: bad duration "2 weeks" (want a number with a unit, like 90s, 2m, 36h or 14d)`,
}, {
	name: "duration without unit",
	yaml: "storage:\n  type: s3\n  endpoint: s3.example.com\n  bucket: b\n  access_key_id: a\n" +
		"  secret_access_key: s\n  call_timeout: 120\nencryption: {recipients: [" + testRecipient + "]}\n",
	want: `mbackup.yaml:7: storage.call_timeout: bad duration "120" (want a number with a unit, like 90s, 2m, 36h or 14d)`,
}, {
	name: "identity as recipient",
	yaml: "storage: {type: local}\nencryption:\n  recipients:\n    - " + testRecipient +
		"\n    - AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n",
	want: "mbackup.yaml:5: encryption.recipients[1]: that is an identity, the backup host must only hold recipients",
}, {
	name:  "identity in recipients_file",
	yaml:  "storage: {type: local}\nencryption:\n  recipients_file: recipients.txt\n",
	files: map[string]string{"recipients.txt": "# admins\nAGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n"},
	want:  "mbackup.yaml:3: encryption.recipients_file: DIR/recipients.txt line 2: that is an identity, the backup host must only hold recipients",
}, {
	name:  "post-quantum recipient without opt-in",
	yaml:  base + "  recipients_file: r.txt\n",
	files: map[string]string{"r.txt": "age1pq1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\n"},
	want: "mbackup.yaml:6: encryption.recipients_file: DIR/r.txt line 1: post-quantum recipient needs " +
		"encryption.post_quantum: true (age before v1.3, such as Debian 12's 1.1.1, cannot decrypt files made for it)",
}, {
	name: "not a recipient",
	yaml: "storage: {type: local}\nencryption: {recipients: [age1notvalid]}\n",
	want: "mbackup.yaml:2: encryption.recipients[0]: not a valid age recipient",
}, {
	name: "no recipient",
	yaml: "storage: {type: local}\n",
	want: "mbackup.yaml: encryption.recipients: at least one recipient is required (recipients or recipients_file)",
}, {
	name: "missing secret file",
	yaml: base + "postgres:\n  password_file: pg.pass\n",
	want: "mbackup.yaml:7: postgres.password_file: cannot read DIR/pg.pass: no such file or directory",
}, {
	name: "missing secret file is reported once",
	yaml: "storage:\n  type: b2\n  bucket: b\n  key_id: k\n  application_key_file: b2.key\n" +
		"encryption: {recipients: [" + testRecipient + "]}\n",
	want: "mbackup.yaml:5: storage.application_key_file: cannot read DIR/b2.key: no such file or directory",
}, {
	name:  "slack webhook not https",
	yaml:  base + "notify:\n  slack:\n    webhook_url_file: slack.url\n",
	files: map[string]string{"slack.url": "http://hooks.slack.com/services/hunter2\n"},
	want:  "mbackup.yaml:8: notify.slack.webhook_url_file: must be an https:// URL",
}, {
	name: "b2 endpoint over plain http to another host",
	yaml: "storage:\n  type: b2\n  bucket: b\n  key_id: k\n  application_key: a\n  endpoint: http://b2.example.com\n" +
		"encryption: {recipients: [" + testRecipient + "]}\n",
	want: "mbackup.yaml:6: storage.endpoint: must be an https:// URL (plain http only to this host: 127.0.0.1, ::1, localhost)",
}, {
	name: "dump stall timeout zero",
	yaml: base + "dump_stall_timeout: 0s\n",
	want: "mbackup.yaml:6: dump_stall_timeout: must be at least 1s",
}, {
	name: "unreadable secret file",
	yaml: base + "mysql:\n  password_file: mysql.pass\n",
	dirs: []string{"mysql.pass"},
	want: "mbackup.yaml:7: mysql.password_file: cannot read DIR/mysql.pass: is a directory",
}, {
	name:  "empty secret file",
	yaml:  base + "mysql:\n  password_file: mysql.pass\n",
	files: map[string]string{"mysql.pass": "\n"},
	want:  "mbackup.yaml:7: mysql.password_file: DIR/mysql.pass is empty",
}, {
	name: "undefined environment variable",
	yaml: base + "postgres:\n  user: ${MBACKUP_TEST_USER}\n  host: db-${MBACKUP_TEST_UNDEFINED}.internal\n",
	want: "mbackup.yaml:8: postgres.host: environment variable MBACKUP_TEST_UNDEFINED is not set",
}, {
	name: "unterminated variable reference",
	yaml: base + "host: ${MBACKUP_TEST_USER\n",
	want: "mbackup.yaml:6: host: bad variable reference: write ${NAME}, or $$ for a literal $",
}, {
	name:  "both secret and secret file",
	yaml:  base + "postgres:\n  password: hunter2\n  password_file: pg.pass\n",
	files: map[string]string{"pg.pass": "hunter3\n"},
	want:  "mbackup.yaml:8: postgres.password_file: set either password or password_file, not both",
}, {
	name: "bad storage type",
	yaml: "storage:\n  type: ftp\nencryption: {recipients: [" + testRecipient + "]}\n",
	want: `mbackup.yaml:2: storage.type: unknown storage type "ftp" (want b2, s3 or local)`,
}, {
	name: "setting of another storage type",
	yaml: "storage:\n  type: local\n  bucket: x\nencryption: {recipients: [" + testRecipient + "]}\n",
	want: "mbackup.yaml:3: storage.bucket: not a setting of storage type local",
}, {
	name: "b2 chunk size too small",
	yaml: "storage:\n  type: b2\n  bucket: b\n  key_id: k\n  application_key: s\n  chunk_size: 1MiB\n" +
		"encryption: {recipients: [" + testRecipient + "]}\n",
	want: "mbackup.yaml:6: storage.chunk_size: must be between 5MB and 5GB",
}, {
	name: "bad port",
	yaml: base + "mysql:\n  port: 70000\n",
	want: "mbackup.yaml:7: mysql.port: must be between 1 and 65535",
}, {
	name: "keep_last 0",
	yaml: base + "retention:\n  keep_within: 7d\n  keep_last: 0\n",
	want: "mbackup.yaml:8: retention.keep_last: must be at least 1: the newest complete snapshot is always kept",
}, {
	name: "duplicate redis name",
	yaml: base + "redis:\n  - name: main\n    url: redis://localhost:6379/0\n  - name: main\n    url: redis://localhost:6380/0\n",
	want: `mbackup.yaml:9: redis[1].name: duplicate redis name "main"`,
}, {
	name: "redis url scheme",
	yaml: base + "redis:\n  - name: main\n    url: http://localhost:6379\n",
	want: "mbackup.yaml:8: redis[0].url: scheme must be redis, rediss or unix",
}, {
	name: "bad sslmode",
	yaml: base + "postgres:\n  sslmode: on\n",
	want: `mbackup.yaml:7: postgres.sslmode: unknown sslmode "on" (want disable, allow, prefer, require, verify-ca, verify-full)`,
}, {
	name: "duplicate database",
	yaml: base + "postgres:\n  databases:\n    - mastodon_production\n    - mastodon_production\n",
	want: `mbackup.yaml:9: postgres.databases[1]: duplicate database "mastodon_production"`,
}, {
	name: "bad max_delete",
	yaml: base + "media:\n  source: {endpoint: s3.example.com, bucket: m, access_key_id: a, secret_access_key: s}\n" +
		"  max_delete: 5 percent\n",
	want: "mbackup.yaml:8: media.max_delete: must be a count like 1000 or a percentage like 5%",
}, {
	name: "media stall timeout under a second",
	yaml: base + "media:\n  source: {endpoint: s3.example.com, bucket: m, access_key_id: a, secret_access_key: s}\n" +
		"  stall_timeout: 500ms\n",
	want: "mbackup.yaml:8: media.stall_timeout: must be at least 1s",
}, {
	name: "cron with four fields",
	yaml: base + "schedule:\n  backup: \"0 */12 * *\"\n",
	want: `mbackup.yaml:7: schedule.backup: not a schedule (expected exactly 5 fields, found 4: [0 */12 * *]): give 5 fields (minute hour day month weekday, UTC), like "0 */12 * * *", or @daily, @every 6h`,
}, {
	name: "slack token without channel",
	yaml: base + "notify:\n  slack:\n    token: xoxb-1\n",
	want: "mbackup.yaml:7: notify.slack.channel: required with token",
}, {
	name: "several problems, sorted by line",
	yaml: base + "postgres:\n  sslmode: on\n  port: 0\n",
	want: `mbackup.yaml:7: postgres.sslmode: unknown sslmode "on" (want disable, allow, prefer, require, verify-ca, verify-full)` +
		"\nmbackup.yaml:8: postgres.port: must be between 1 and 65535",
}}

func TestLoadBadConfigs(t *testing.T) {
	t.Setenv("MBACKUP_TEST_USER", "backup")
	for _, tt := range badConfigs {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			for _, d := range tt.dirs {
				if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			c, _, err := loadYAML(t, dir, tt.yaml)
			if err == nil {
				t.Fatalf("Load succeeded, want error %q", tt.want)
			}
			if c != nil {
				t.Errorf("Load returned a config with its error")
			}
			if got := strings.ReplaceAll(err.Error(), dir, "DIR"); got != tt.want {
				t.Errorf("error:\n got: %s\nwant: %s", got, tt.want)
			}
			for _, secret := range []string{"hunter2", "hunter3", "AGE-SECRET-KEY", "xoxb-1"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error contains secret %q: %v", secret, err)
				}
			}
		})
	}
}
