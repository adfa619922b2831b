package draft

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"filippo.io/age"

	"mbackup/internal/config"
)

// hostile are values YAML would misread if written as they are: each one
// must come back from config.Load exactly.
var hostile = []struct{ name, s string }{
	{"hash", "/srv/trial #2"},
	{"hash without space", "/srv/trial#2"},
	{"colon", "/srv/a: b"},
	{"colon end", "/srv/a:"},
	{"single quote", "/srv/it's"},
	{"double quote", `/srv/say "hi"`},
	{"backslash", `C:\backups\new`},
	{"newline", "/srv/one\ntwo"},
	{"carriage return", "/srv/one\r\ntwo"},
	{"tab", "/srv/a\tb"},
	{"leading dash", "- item"},
	{"leading star", "*alias"},
	{"leading ampersand", "&anchor"},
	{"leading bang", "!tag"},
	{"leading percent", "%directive"},
	{"leading at", "@reserved"},
	{"leading backtick", "`reserved"},
	{"leading pipe", "| literal"},
	{"leading greater", "> folded"},
	{"leading question", "? key"},
	{"flow", "[a, b] {c: d}"},
	{"yes", "yes"},
	{"no", "no"},
	{"on", "on"},
	{"null", "null"},
	{"tilde", "~"},
	{"true", "true"},
	{"number", "0x1F"},
	{"float", "1e3"},
	{"leading space", " /srv/x"},
	{"trailing space", "/srv/x "},
	{"dollar", "/srv/$HOME ${HOME} $$ $"},
	{"unicode", "/srv/sauvegardes/été/备份/🐘"},
	{"unicode spaces", "/srv/a\u00a0b\u2028c\u2029d\u0085e"},
	{"byte order mark", "\ufeff/srv/x"},
	{"control", "/srv/\x00\x01\x1b\x7f"},
	{"document markers", "---\n...\n"},
	{"comment only", "# not a comment"},
}

// TestTrialHostile writes each hostile value as every string quickstart
// writes (the store path, the hosts and users), then reads the
// configuration back with config.Load.
func TestTrialHostile(t *testing.T) {
	dir := t.TempDir()
	recipient, signer := testKeys(t, dir)
	for i, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			probes := []Probe{
				{Service: "PostgreSQL", section: pgSection(h.s, 5432, h.s, "pg: #'\"secret")},
				{Service: "MySQL", section: mysqlSection(h.s, 3306, h.s, "")},
			}
			d, err := Trial(h.s, recipient, signer, probes)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(d.YAML, "secret") {
				t.Errorf("a password in the configuration:\n%s", d.YAML)
			}
			sub := filepath.Join(dir, fmt.Sprint(i))
			if err := os.Mkdir(sub, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(filepath.Join(dir, "signing.key"), filepath.Join(sub, "signing.key")); err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(sub, "mbackup.yaml")
			if err := d.Write(cfg); err != nil {
				t.Fatal(err)
			}
			c, _, err := config.Load(cfg)
			if err != nil {
				t.Fatalf("load: %v\n%s", err, d.YAML)
			}
			for what, got := range map[string]string{
				"postgres.host": c.Postgres.Host, "postgres.user": c.Postgres.User,
				"mysql.host": c.MySQL.Host, "mysql.user": c.MySQL.User,
			} {
				if got != h.s {
					t.Errorf("%s = %q, want %q\n%s", what, got, h.s, d.YAML)
				}
			}
			// A relative store path is relative to the configuration file.
			if want := h.s; c.Storage.Path != want && (filepath.IsAbs(want) || c.Storage.Path != filepath.Join(sub, want)) {
				t.Errorf("storage.path = %q, want %q relative to %s\n%s", c.Storage.Path, want, sub, d.YAML)
			}
			if c.Postgres.Password.Reveal() != "pg: #'\"secret" || c.Encryption.Signer != signer {
				t.Errorf("password or signer changed\n%s", d.YAML)
			}
		})
	}
}

// TestMastodonHostile drafts from .env variables holding the hostile
// values, fills in the TODOs and reads the configuration back.
func TestMastodonHostile(t *testing.T) {
	recipient := newRecipient(t)
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			d, err := Mastodon(map[string]string{
				"DB_HOST": h.s, "DB_USER": h.s, "DB_PASS": "pw: #'\"$x",
				"S3_ENABLED": "true", "S3_BUCKET": h.s, "S3_ENDPOINT": "https://files.example", "S3_REGION": h.s,
				"AWS_ACCESS_KEY_ID": h.s, "AWS_SECRET_ACCESS_KEY": "media-secret",
			}, h.s)
			if err != nil {
				t.Fatal(err)
			}
			c := loadFilled(t, d, recipient)
			p, s := c.Postgres, c.Media.Source
			if p.Host != h.s || p.User != h.s || p.Password.Reveal() != "pw: #'\"$x" ||
				s.Bucket != h.s || s.Region != h.s || s.AccessKeyID != h.s {
				t.Errorf("postgres %+v, media %+v\n%s", p, s, d.YAML)
			}
			abs, _ := filepath.Abs(h.s)
			if want := []string{filepath.Clean(abs)}; !strings.ContainsRune(h.s, 0) && !slices.Equal(c.Files, want) {
				t.Errorf("files %q, want %q\n%s", c.Files, want, d.YAML)
			}
		})
	}
}

func newRecipient(t *testing.T) string {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient().String()
}

// testKeys makes dir/signing.key and an age recipient, as quickstart does.
func testKeys(t *testing.T, dir string) (recipient, signer string) {
	t.Helper()
	signer, err := NewSigningKey(filepath.Join(dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	return newRecipient(t), signer
}

var storageTODO = regexp.MustCompile(`(?s)\nstorage:\n.*?\nencryption:`)

// loadFilled writes d into a new directory, fills in its TODOs as the
// admin does (a local store, a recipient) and loads it with config.Load.
func loadFilled(t *testing.T, d *Draft, recipient string) *config.Config {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "mbackup.yaml")
	if err := d.Write(cfg); err != nil {
		t.Fatal(err)
	}
	text := storageTODO.ReplaceAllString(d.YAML, "\nstorage:\n  type: local\n  path: /backups\nencryption:")
	text = strings.Replace(text, "recipients: []", `recipients: ["`+recipient+`"]`, 1)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := config.Load(cfg)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, text)
	}
	return c
}

const fuzzRecipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

// FuzzQuote: any text quote writes is read back by config.Parse as it was.
func FuzzQuote(f *testing.F) {
	for _, h := range hostile {
		f.Add(h.s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" || !utf8.ValidString(s) || len(s) > 4096 {
			return
		}
		q := quote(s)
		if strings.ContainsAny(q, "\n\r") {
			t.Fatalf("quote(%q) spans lines: %s", s, q)
		}
		data := "storage:\n  type: local\n  path: /srv\nencryption:\n  recipients: [\"" + fuzzRecipient + "\"]\npostgres:\n  user: " + q + "\n"
		c, _, err := config.Parse("/nonexistent/mbackup.yaml", []byte(data), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatalf("quote(%q) = %s does not load: %v", s, q, err)
		}
		if c.Postgres.User != s {
			t.Fatalf("quote(%q) = %s loads as %q", s, q, c.Postgres.User)
		}
	})
}
