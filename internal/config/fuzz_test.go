package config

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// fuzzSecret is the value of every secret in the seeds of FuzzParse; it
// must never show up in an error or a warning.
const fuzzSecret = "S3cr3tSentinel"

// fuzzSecretEnv expands to fuzzSecret in FuzzParse.
const fuzzSecretEnv = "MBACKUP_FUZZ_SECRET"

// fuzzSeeds are the configurations FuzzParse starts from: valid ones of
// every storage type and section, with every secret set to fuzzSecret, and
// broken ones around the secrets.
var fuzzSeeds = []string{
	base,
	base + "retention:\n  keep_within: 7d\n  keep_last: 0\n",
	"storage:\n  type: b2\n  bucket: b\n  key_id: k\n  application_key: " + fuzzSecret + "\n" +
		"  chunk_size: 100MB\n  concurrent_uploads: 4\n  call_timeout: 90s\n" +
		"encryption:\n  recipients: [" + testRecipient + "]\n",
	"storage:\n  type: b2\n  bucket: b\n  key_id: k\n  application_key: " + fuzzSecret + "\n" +
		"  chunk_size: 1MiB\nencryption:\n  recipients: [" + testRecipient + "]\n",
	"storage:\n  type: b2\n  bucket: b\n  key_id: k\n  application_key: " + fuzzSecret + "\n" +
		"  application_key_file: b2.key\nencryption:\n  recipients: [" + testRecipient + "]\n",
	"storage:\n  type: local\n  path: /backups\n  application_key: " + fuzzSecret + "\n" +
		"encryption:\n  recipients: [" + testRecipient + "]\n",
	"storage:\n  type: s3\n  bucket: b\n  endpoint: http://127.0.0.1:7070\n  access_key_id: AK\n" +
		"  secret_access_key: \"" + fuzzSecret + "\"\n  part_size: 16MiB\n" +
		"encryption:\n  recipients: [" + testRecipient + "]\n",
	"storage:\n  type: s3\n  bucket: b\n  endpoint: ftp://x\n  access_key_id: AK\n" +
		"  secret_access_key: ${" + fuzzSecretEnv + "}\n" +
		"encryption:\n  recipients: [" + testRecipient + "]\n",
	base + "postgres:\n  host: /var/run/postgresql\n  port: 5433\n  user: mastodon\n" +
		"  password: " + fuzzSecret + "\n  sslmode: verify-full\n  databases: [mastodon_production]\n  globals: false\n",
	base + "postgres:\n  password: '" + fuzzSecret + "'\n  sslmode: bogus\n  port: 70000\n",
	base + "redis:\n  - name: main\n    url: redis://localhost:6379/0\n" +
		"  - name: cache\n    url: rediss://:" + fuzzSecret + "@cache.internal:6380/1\n",
	base + "redis:\n  - name: main\n    url: redis://u:" + fuzzSecret + "@localhost:99999/x\n" +
		"    password: " + fuzzSecret + "\n",
	base + "mysql:\n  host: db.internal\n  user: backup\n  password: " + fuzzSecret + "\n  databases: [writefreely]\n",
	base + "media:\n  source:\n    endpoint: nyc3.digitaloceanspaces.com\n    region: nyc3\n    bucket: m\n" +
		"    access_key_id: DO00EXAMPLE\n    secret_access_key: " + fuzzSecret + "\n  prefix: mirror/\n  max_delete: 5%\n",
	base + "notify:\n  slack:\n    token: " + fuzzSecret + "\n    channel: C0123456\n    on: failure\n",
	base + "notify:\n  slack:\n    webhook_url: " + fuzzSecret + "\n    token: ${" + fuzzSecretEnv + "}\n",
	base + "schedule:\n  backup: \"15 3 * * *\"\n  mirror: \"61 */6 * * *\"\n  verify: \"@daily\"\n" +
		"retention:\n  keep_within: 1d12h\n  keep_last: 3\n  keep_daily: 7\n  keep_weekly: -1\n" +
		"metrics:\n  listen: \"[::1]:9100\"\n",
	"host: a b\n" + base + "retention: {keep_last: 1}\n---\nx: 1\n",
	"storage: [1, 2]\npassword: " + fuzzSecret + "\n",
	// A URL where a key was expected (no space after "url:"): the key,
	// with its password, was echoed in "unknown key".
	base + "url:redis://:" + fuzzSecret + "@#0000: 1\n",
}

// fuzzSecretLine is a line that sets a secret to fuzzSecret, directly, with
// ${MBACKUP_FUZZ_SECRET} or as the password of a Redis URL.
var fuzzSecretLine = regexp.MustCompile(`^[ \t]*(?:-[ \t]+)?(?:` +
	`(?:application_key|secret_access_key|password|webhook_url|token)[ \t]*:[ \t]*["']?(?:` + fuzzSecret + `|\$\{` + fuzzSecretEnv + `\})["']?` +
	`|url[ \t]*:[ \t]*["']?rediss?://[^:@/\s"']*:(?:` + fuzzSecret + `|\$\{` + fuzzSecretEnv + `\})@[^\s"']*["']?` +
	`)[ \t]*(?:#.*)?$`)

// secretOnlyInSecrets reports whether fuzzSecret can only end up in secret
// fields of the configuration data describes: every line that mentions it
// sets a secret, and there are no anchors, tags or escapes that could copy
// or spell it elsewhere.
func secretOnlyInSecrets(data []byte) bool {
	if bytes.ContainsAny(data, "&!\\%") {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.Contains(line, fuzzSecret) || strings.Contains(line, fuzzSecretEnv) {
			if !fuzzSecretLine.MatchString(line) {
				return false
			}
		}
	}
	return true
}

// FuzzParse feeds arbitrary YAML to Parse. It must never panic; neither its
// error nor its warnings may contain a secret value; and a configuration it
// accepts is valid, with the defaults filled in.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	lookupEnv := func(name string) (string, bool) {
		switch name {
		case fuzzSecretEnv:
			return fuzzSecret, true
		case "MBACKUP_FUZZ_PORT":
			return "5432", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Secret files and the recipients file are read: keep away from
		// devices and pseudo-files that never end or block.
		if len(data) > 64<<10 || bytes.Contains(data, []byte("/dev")) ||
			bytes.Contains(data, []byte("/proc")) || bytes.Contains(data, []byte("/sys")) {
			return // not a config to judge: these would read real files
		}
		// A directory that does not exist: relative *_file paths fail.
		c, warnings, err := Parse("/nonexistent-mbackup-fuzz/mbackup.yaml", data, lookupEnv)
		if secretOnlyInSecrets(data) {
			if err != nil && strings.Contains(err.Error(), fuzzSecret) {
				t.Fatalf("error contains the secret:\n%v", err)
			}
			for _, w := range warnings {
				if strings.Contains(w.String(), fuzzSecret) {
					t.Fatalf("warning contains the secret: %s", w)
				}
			}
			if c != nil {
				for _, s := range []string{fmt.Sprintf("%v", *c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", *c)} {
					if strings.Contains(s, fuzzSecret) {
						t.Fatalf("printed config contains the secret:\n%s", s)
					}
				}
			}
		}
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a config and the error %v", err)
			}
			return
		}
		if c == nil {
			t.Fatal("Parse returned neither a config nor an error")
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v", err)
		}
		r := c.Retention
		if r.KeepLast < 1 || r.KeepWithin < 0 || r.KeepDaily < 0 || r.KeepWeekly < 0 || r.KeepMonthly < 0 {
			t.Fatalf("accepted retention %+v", r)
		}
		if c.Host == "" || c.Schedule.Backup == "" || len(c.Encryption.All) == 0 {
			t.Fatalf("accepted config without host, backup schedule or recipients: %+v", c)
		}
		switch c.Storage.Type {
		case StorageLocal:
			if c.Storage.Path == "" {
				t.Fatal("accepted local storage without a path")
			}
		case StorageB2, StorageS3:
			s := c.Storage
			if s.Bucket == "" || s.ConcurrentUploads < 1 || s.CallTimeout <= 0 || s.StallTimeout <= 0 || s.UploadTimeout <= 0 {
				t.Fatalf("accepted storage %+v", s)
			}
			if s.Type == StorageB2 && !s.ApplicationKey.IsSet() || s.Type == StorageS3 && !s.SecretAccessKey.IsSet() {
				t.Fatalf("accepted %s storage without its secret", s.Type)
			}
		default:
			t.Fatalf("accepted storage type %q", c.Storage.Type)
		}
		for _, rd := range c.Redis {
			if strings.Contains(rd.URL, "@") && rd.Password.IsSet() && strings.Contains(rd.URL, rd.Password.Reveal()) {
				t.Fatalf("redis %s: the URL still holds the password", rd.Name)
			}
		}
	})
}
