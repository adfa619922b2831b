package main

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"mbackup/internal/config"
)

// fixtureSecrets are the secret values of testdata/env.production: none
// may show in the configuration or in what init prints.
var fixtureSecrets = []string{
	"fixture-pg-Pw", "fixture-redis-Pw7", "fixture/aws+Secret=Key9xYz", "fixturesecretkeybase",
	"fixtureotpsecret", "fixturevapidprivate", "fixture-smtp-passWd3", "fixtureprimarykey",
	"fixturederivationsalt", "fixturedeterministickey",
}

// initRun runs mbackup init on the .env text and returns the
// configuration's path and what init printed.
func initRun(t *testing.T, envText string) (cfg, out string) {
	t.Helper()
	dir := t.TempDir()
	from := filepath.Join(dir, "env.production")
	if err := os.WriteFile(from, []byte(envText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "etc", "mbackup.yaml")
	code, out, errOut := mbackup(t, "init", "--from", from, "-o", cfg)
	if code != exitOK {
		t.Fatalf("init exited %d:\n%s\n%s", code, out, errOut)
	}
	return cfg, out + errOut
}

// fillTODOs does what the admin does after init: a store (here a local
// directory) and a recipient from mbackup keygen. It returns the identity
// file.
func fillTODOs(t *testing.T, cfg string) string {
	t.Helper()
	dir := filepath.Dir(cfg)
	id := filepath.Join(t.TempDir(), "identity.txt")
	code, recipient, errOut := mbackup(t, "keygen", "-o", id)
	if code != exitOK {
		t.Fatalf("keygen: %s", errOut)
	}
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`(?s)\nstorage:\n.*?\nencryption:`).ReplaceAllString(string(b),
		"\nstorage:\n  type: local\n  path: "+filepath.Join(dir, "store")+"\nencryption:")
	filled := strings.Replace(text, "recipients: []", `recipients: ["`+strings.TrimSpace(recipient)+`"]`, 1)
	if filled == text || !strings.Contains(filled, "type: local") {
		t.Fatalf("no TODO to fill in:\n%s", b)
	}
	if err := os.WriteFile(cfg, []byte(filled), 0o600); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestInitFixture(t *testing.T) {
	envText, err := os.ReadFile("testdata/env.production")
	if err != nil {
		t.Fatal(err)
	}
	cfg, out := initRun(t, string(envText))
	dir := filepath.Dir(cfg)
	yaml, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range fixtureSecrets {
		if strings.Contains(string(yaml), s) || strings.Contains(out, s) {
			t.Errorf("secret %q in the configuration or the output", s)
		}
	}
	for name, want := range map[string]string{
		"mbackup.yaml":     "",
		"pg.pass":          "fixture-pg-Pw:7 with #hash and $dollar\n",
		"redis.pass":       "fixture-redis-Pw7\n",
		"media-secret.key": "fixture/aws+Secret=Key9xYz\n",
	} {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
		if b, _ := os.ReadFile(p); want != "" && string(b) != want {
			t.Errorf("%s holds %q, want %q", name, b, want)
		}
	}
	for _, w := range []string{"mbackup keygen", "mbackup --config " + cfg + " check", filepath.Join(dir, "b2.key")} {
		if !strings.Contains(out, w) {
			t.Errorf("the next steps do not mention %q:\n%s", w, out)
		}
	}

	// As written, the TODOs keep the configuration from loading, each one
	// named on its line.
	_, _, err = config.Load(cfg)
	if err == nil {
		t.Fatal("the configuration with its TODOs loads")
	}
	for _, w := range []string{"storage.bucket: required", "storage.key_id: required", "b2.key", "encryption.recipients"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the load error does not say %q:\n%v", w, err)
		}
	}

	fillTODOs(t, cfg)
	c, warns, err := config.Load(cfg)
	if err != nil {
		t.Fatalf("the filled-in configuration does not load: %v", err)
	}
	if len(warns) > 0 {
		t.Errorf("warnings: %v", warns)
	}
	if c.Host != "social.example.org" {
		t.Errorf("host %q", c.Host)
	}
	p := c.Postgres
	if p == nil || p.Host != "/var/run/postgresql" || p.Port != 5432 || p.User != "mastodon" || p.SSLMode != "prefer" ||
		p.Password.Reveal() != "fixture-pg-Pw:7 with #hash and $dollar" || len(p.Databases) != 1 ||
		p.Databases[0] != "mastodon_production" || !p.Globals {
		t.Errorf("postgres: %+v", p)
	}
	if len(c.Redis) != 1 || c.Redis[0].Name != "main" || c.Redis[0].URL != "redis://localhost:6379/0" ||
		c.Redis[0].Password.Reveal() != "fixture-redis-Pw7" {
		t.Errorf("redis: %+v", c.Redis)
	}
	m := c.Media
	if m == nil || m.Source.Endpoint != "https://nyc3.digitaloceanspaces.com" || m.Source.Region != "nyc3" ||
		m.Source.Bucket != "social-example-media" || m.Source.AccessKeyID != "DO00FIXTUREACCESSKEY" ||
		m.Source.SecretAccessKey.Reveal() != "fixture/aws+Secret=Key9xYz" || m.Delete {
		t.Errorf("media: %+v", m)
	}
}

func TestInitRefusesToOverwrite(t *testing.T) {
	cfg, _ := initRun(t, "DB_PASS=one\nREDIS_PASSWORD=two\n")
	dir := filepath.Dir(cfg)
	before := map[string]string{}
	for _, n := range []string{"mbackup.yaml", "pg.pass", "redis.pass"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		before[n] = string(b)
	}
	from := filepath.Join(t.TempDir(), "env")
	os.WriteFile(from, []byte("DB_PASS=three\nREDIS_PASSWORD=four\n"), 0o600)
	code, out, errOut := mbackup(t, "init", "--from", from, "-o", cfg)
	if code != exitError || !strings.Contains(errOut, cfg+" already exists") {
		t.Errorf("second init exited %d:\n%s\n%s", code, out, errOut)
	}
	for n, want := range before {
		if b, _ := os.ReadFile(filepath.Join(dir, n)); string(b) != want {
			t.Errorf("%s changed", n)
		}
	}

	// A secret file in the way stops init before it writes anything.
	other := filepath.Join(dir, "other.yaml")
	code, _, errOut = mbackup(t, "init", "--from", from, "-o", other)
	if code != exitError || !strings.Contains(errOut, filepath.Join(dir, "signing.key")+" already exists") {
		t.Errorf("init over a secret file exited %d: %s", code, errOut)
	}
	if _, err := os.Stat(other); err == nil {
		t.Errorf("%s written", other)
	}
	if strings.Contains(errOut, "three") || strings.Contains(errOut, "four") {
		t.Errorf("a secret in %q", errOut)
	}
}

func TestInitRedis(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		urls      []string // of the redis entries, in order
		passwords []string
		files     []string // secret files written
		comment   string   // expected in the YAML
	}{
		{
			name: "defaults", env: "",
			urls: []string{"redis://localhost:6379/0"}, passwords: []string{""},
		},
		{
			name: "url with password", env: "REDIS_URL=redis://:url-Xq9%23x@10.0.0.5:6380/2\n",
			urls: []string{"redis://10.0.0.5:6380/2"}, passwords: []string{"url-Xq9#x"}, files: []string{"redis.pass"},
		},
		{
			name: "url with user and password", env: "REDIS_URL=rediss://mastodon:pw-Xq9@redis.internal\n",
			urls: []string{"rediss://mastodon@redis.internal/0"}, passwords: []string{"pw-Xq9"}, files: []string{"redis.pass"},
		},
		{
			name: "sidekiq elsewhere",
			env:  "REDIS_HOST=10.0.0.5\nREDIS_PASSWORD=main-Xq9\nSIDEKIQ_REDIS_URL=redis://:sk-Xq9@10.0.0.6:6379/0\n",
			urls: []string{"redis://10.0.0.5:6379/0", "redis://10.0.0.6:6379/0"}, passwords: []string{"main-Xq9", "sk-Xq9"},
			files: []string{"redis.pass", "redis-sidekiq.pass"},
		},
		{
			name: "sidekiq in another db, same password",
			env:  "REDIS_HOST=10.0.0.5\nREDIS_PASSWORD=main-Xq9\nSIDEKIQ_REDIS_URL=redis://:main-Xq9@10.0.0.5:6379/1\n",
			urls: []string{"redis://10.0.0.5:6379/0", "redis://10.0.0.5:6379/1"}, passwords: []string{"main-Xq9", "main-Xq9"},
			files: []string{"redis.pass"},
		},
		{
			name: "sidekiq the same server",
			env:  "REDIS_HOST=10.0.0.5\nREDIS_PASSWORD=main-Xq9\nSIDEKIQ_REDIS_URL=redis://:main-Xq9@10.0.0.5:6379\nSIDEKIQ_REDIS_HOST=unused\n",
			urls: []string{"redis://10.0.0.5:6379/0"}, passwords: []string{"main-Xq9"}, files: []string{"redis.pass"},
		},
		{
			name: "sidekiq by host, the same",
			env:  "REDIS_URL=redis://10.0.0.5:6379/0\nSIDEKIQ_REDIS_HOST=10.0.0.5\n",
			urls: []string{"redis://10.0.0.5:6379/0"}, passwords: []string{""},
		},
		{
			name: "cache elsewhere: commented out",
			env:  "REDIS_PASSWORD=main-Xq9\nCACHE_REDIS_URL=redis://:cache-Xq9@cache.internal:6379/0\n",
			urls: []string{"redis://localhost:6379/0"}, passwords: []string{"main-Xq9"}, files: []string{"redis.pass"},
			comment: "  # - name: cache\n  #   url: \"redis://cache.internal:6379/0\"\n  #   password_file: redis-cache.pass\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, out := initRun(t, tc.env+"S3_ENABLED=false\n")
			yaml, _ := os.ReadFile(cfg)
			if strings.Contains(string(yaml)+out, "Xq9") {
				t.Errorf("a password in the configuration or the output:\n%s\n%s", yaml, out)
			}
			if !strings.Contains(string(yaml), tc.comment) {
				t.Errorf("the configuration lacks %q:\n%s", tc.comment, yaml)
			}
			ents, _ := os.ReadDir(filepath.Dir(cfg))
			var files []string
			for _, e := range ents {
				if e.Name() != "mbackup.yaml" && e.Name() != "signing.key" {
					files = append(files, e.Name())
				}
			}
			if strings.Join(files, ",") != strings.Join(sortedCopy(tc.files), ",") {
				t.Errorf("secret files %v, want %v", files, tc.files)
			}
			fillTODOs(t, cfg)
			c, _, err := config.Load(cfg)
			if err != nil {
				t.Fatalf("load: %v\n%s", err, yaml)
			}
			if len(c.Redis) != len(tc.urls) {
				t.Fatalf("%d redis entries, want %d:\n%s", len(c.Redis), len(tc.urls), yaml)
			}
			for i, r := range c.Redis {
				if r.URL != tc.urls[i] || r.Password.Reveal() != tc.passwords[i] {
					t.Errorf("redis[%d] = %s (%s), want %s", i, r.URL, r.Name, tc.urls[i])
				}
			}
		})
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// TestInitQuoting checks that values YAML would misread (a colon, a #, a $,
// quotes) come back from config.Load as written in .env.production.
func TestInitQuoting(t *testing.T) {
	env := `LOCAL_DOMAIN=m.example
DB_HOST="db: #1 \"main\""
DB_USER='us$er ${HOME} #x'
DB_NAME="mastodon: prod's"
DB_PORT=5433
DB_SSLMODE=require
DB_PASS=''
S3_ENABLED=true
S3_BUCKET="media #1"
S3_HOSTNAME=files.example:9000
AWS_ACCESS_KEY_ID='AK: #$x'
AWS_SECRET_ACCESS_KEY="s3-Secret"
`
	cfg, _ := initRun(t, env)
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "pg.pass")); err == nil {
		t.Error("pg.pass written for an empty DB_PASS")
	}
	fillTODOs(t, cfg)
	c, _, err := config.Load(cfg)
	if err != nil {
		yaml, _ := os.ReadFile(cfg)
		t.Fatalf("load: %v\n%s", err, yaml)
	}
	p := c.Postgres
	if p.Host != `db: #1 "main"` || p.User != `us$er ${HOME} #x` || p.Databases[0] != "mastodon: prod's" ||
		p.Port != 5433 || p.SSLMode != "require" || p.Password.IsSet() {
		t.Errorf("postgres: %+v", p)
	}
	s := c.Media.Source
	if s.Bucket != "media #1" || s.Endpoint != "files.example:9000" || s.Region != "us-east-1" ||
		s.AccessKeyID != "AK: #$x" || s.SecretAccessKey.Reveal() != "s3-Secret" {
		t.Errorf("media: %+v", s)
	}
}

func TestInitDatabaseURL(t *testing.T) {
	cfg, out := initRun(t, "DB_HOST=ignored\nDB_PASS=old-Xq9\nREDIS_PASSWORD=old-Xq9\n"+
		"DATABASE_URL=postgresql://masto:p%40ss-Xq9@db.internal:6432/social?sslmode=verify-full\n")
	yaml, _ := os.ReadFile(cfg)
	if strings.Contains(string(yaml)+out, "Xq9") {
		t.Errorf("a password in the configuration or the output:\n%s\n%s", yaml, out)
	}
	fillTODOs(t, cfg)
	c, _, err := config.Load(cfg)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, yaml)
	}
	p := c.Postgres
	if p.Host != "db.internal" || p.Port != 6432 || p.User != "masto" || p.Password.Reveal() != "p@ss-Xq9" ||
		p.Databases[0] != "social" || p.SSLMode != "verify-full" {
		t.Errorf("postgres: %+v", p)
	}
	// Equal passwords of two services still get a file each.
	if len(c.Redis) != 1 || c.Redis[0].PasswordFile != filepath.Join(filepath.Dir(cfg), "redis.pass") ||
		c.Redis[0].Password.Reveal() != "old-Xq9" {
		t.Errorf("redis: %+v", c.Redis)
	}
}

func TestInitErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.env")
	code, _, errOut := mbackup(t, "init", "--from", missing, "-o", filepath.Join(dir, "a.yaml"))
	if code != exitError || !strings.Contains(errOut, missing) || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing --from file: exit %d, %q", code, errOut)
	}

	code, _, errOut = mbackup(t, "init")
	if code != exitUsage || !strings.Contains(errOut, "--from") {
		t.Errorf("no --from: exit %d, %q", code, errOut)
	}

	bad := filepath.Join(dir, "bad.env")
	os.WriteFile(bad, []byte("LOCAL_DOMAIN=x.example\n# db\nDB_PASS=\"Hunter2-secret\nREDIS_PASSWORD=Other-secret\n"), 0o600)
	out := filepath.Join(dir, "b.yaml")
	code, stdout, errOut := mbackup(t, "init", "--from", bad, "-o", out)
	if code != exitError || !strings.Contains(errOut, bad+": dotenv: line 3: unterminated quote") {
		t.Errorf("unterminated quote: exit %d, %q", code, errOut)
	}
	if strings.Contains(stdout+errOut, "secret") {
		t.Errorf("a value shown: %q %q", stdout, errOut)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a configuration written from a malformed file")
	}

	badPort := filepath.Join(dir, "port.env")
	os.WriteFile(badPort, []byte("DB_PORT=54x32-secret\n"), 0o600)
	code, _, errOut = mbackup(t, "init", "--from", badPort, "-o", out)
	if code != exitError || !strings.Contains(errOut, "port number") || strings.Contains(errOut, "secret") {
		t.Errorf("bad DB_PORT: exit %d, %q", code, errOut)
	}

	badURL := filepath.Join(dir, "url.env")
	os.WriteFile(badURL, []byte("REDIS_URL=http://user:pw-secret@x/\n"), 0o600)
	code, _, errOut = mbackup(t, "init", "--from", badURL, "-o", out)
	if code != exitError || !strings.Contains(errOut, "REDIS_URL") || strings.Contains(errOut, "secret") {
		t.Errorf("bad REDIS_URL: exit %d, %q", code, errOut)
	}
}

// TestInitBackup drafts a configuration for the package's test servers,
// fills in its TODOs and takes a snapshot with it.
func TestInitBackup(t *testing.T) {
	rhost, rport, err := net.SplitHostPort(redis.Addr)
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join([]string{
		"LOCAL_DOMAIN=init.example",
		"DB_HOST=127.0.0.1", "DB_PORT=" + strconv.Itoa(pg.Port), "DB_USER=" + pg.User, "DB_PASS='" + pg.Password + "'",
		"DB_NAME=postgres", "DB_SSLMODE=disable",
		"REDIS_HOST=" + rhost, "REDIS_PORT=" + rport, "REDIS_PASSWORD='" + redis.Password + "'",
		"S3_ENABLED=false", "",
	}, "\n")
	cfg, _ := initRun(t, env)
	fillTODOs(t, cfg)
	redis.Do(t, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
	code, out, errOut := mbackup(t, "--config", cfg, "check")
	t.Logf("check of the drafted configuration:\n%s", out)
	if code != exitOK || strings.Contains(out, "❌") || strings.Count(out, "✅") < 5 {
		t.Fatalf("check exited %d:\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = mbackup(t, "--config", cfg, "backup")
	if code != exitOK {
		t.Fatalf("backup exited %d:\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "complete") || !strings.Contains(out, "globals") {
		t.Errorf("backup printed:\n%s", out)
	}
}

// TestInitSigningKey: init makes the signing key (0600, beside the
// configuration), pins its public half as the signer and prints it.
func TestInitSigningKey(t *testing.T) {
	cfg, out := initRun(t, "DB_PASS=one\n")
	key := filepath.Join(filepath.Dir(cfg), "signing.key")
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signing.key: %v %v", fi, err)
	}
	fillTODOs(t, cfg)
	c, _, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.Encryption.SigningKey()
	if err != nil || k == nil {
		t.Fatalf("the drafted signing key does not load: %v", err)
	}
	if pub := k.AuthorizedKey(""); !strings.Contains(out, pub) || !strings.Contains(c.Encryption.Signer, pub) {
		t.Errorf("the signer %s is not printed or not pinned (%q)", pub, c.Encryption.Signer)
	}
}
