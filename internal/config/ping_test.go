package config

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pingSecret is in every ping URL of these tests: it must never show.
const pingSecret = "5b5d2a56-hunter2-ping"

// TestPingLoads: URLs inline, from ${NAME} and from x_file; the timeout's
// default; tasks without a URL are left out; no section, no pings.
func TestPingLoads(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"mirror.url": "https://hc-ping.com/" + pingSecret + "-m\n"})
	t.Setenv("MBACKUP_TEST_PING", "http://127.0.0.1:8000/ping/"+pingSecret+"-v")
	c, warns, err := loadYAML(t, dir, base+"notify:\n  ping:\n    backup: https://hc-ping.com/"+pingSecret+"-b\n"+
		"    mirror_file: mirror.url\n    verify: ${MBACKUP_TEST_PING}\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	p := c.Notify.Ping
	if c.Notify.Slack != nil || p.Timeout != Duration(DefaultPingTimeout) {
		t.Errorf("slack %v, timeout %v", c.Notify.Slack, p.Timeout)
	}
	urls := p.URLs()
	want := map[string]string{
		"backup": "https://hc-ping.com/" + pingSecret + "-b",
		"mirror": "https://hc-ping.com/" + pingSecret + "-m",
		"verify": "http://127.0.0.1:8000/ping/" + pingSecret + "-v",
	}
	if len(urls) != len(want) {
		t.Errorf("urls for %v", urls)
	}
	for task, u := range want {
		if urls[task].Reveal() != u {
			t.Errorf("%s: %q", task, urls[task].Reveal())
		}
	}
	var log strings.Builder
	slog.New(slog.NewTextHandler(&log, nil)).Info("config", "ping", p, "notify", c.Notify)
	if s := fmt.Sprintf("%v %+v %#v %s", p, p, *p, log.String()); strings.Contains(s, pingSecret) {
		t.Errorf("a ping URL printed: %s", s)
	}

	c, _, err = loadYAML(t, dir, base+"notify:\n  ping:\n    timeout: 3s\n")
	if err != nil || c.Notify.Ping.Timeout != Duration(3*time.Second) || len(c.Notify.Ping.URLs()) != 0 {
		t.Errorf("timeout only: %v %+v", err, c)
	}
	c, _, err = loadYAML(t, dir, base+"notify:\n  slack:\n    webhook_url: https://hooks.slack.com/services/T/B/X\n")
	if err != nil || c.Notify.Ping != nil {
		t.Errorf("slack only: %v, ping %+v", err, c.Notify.Ping)
	}
}

// TestPingWorldReadable: a ping URL written in a configuration file that
// every user may read is a warning, like any secret, and it does not quote
// the URL.
func TestPingWorldReadable(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "mbackup.yaml")
	if err := os.WriteFile(p, []byte(base+"notify:\n  ping:\n    prune: https://hc-ping.com/"+pingSecret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	_, warns, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || warns[0].Line != 8 || warns[0].Path != "notify.ping.prune" || strings.Contains(fmt.Sprint(warns), pingSecret) {
		t.Errorf("warnings: %+v", warns)
	}
}

// TestPingRefused: each bad setting is an error naming its line and path,
// and none quotes the URL.
func TestPingRefused(t *testing.T) {
	const head = base + "notify:\n  ping:\n"
	for _, c := range []struct {
		name  string
		yaml  string
		files map[string]string
		want  string
	}{
		{"no scheme", head + "    backup: hc-ping.com/" + pingSecret + "\n",
			nil, "mbackup.yaml:8: notify.ping.backup: must be an http:// or https:// URL"},
		{"ftp", head + "    mirror: ftp://hc-ping.com/" + pingSecret + "\n",
			nil, "mbackup.yaml:8: notify.ping.mirror: must be an http:// or https:// URL"},
		{"no host", head + "    prune: https:///" + pingSecret + "\n",
			nil, "mbackup.yaml:8: notify.ping.prune: needs a host, like https://hc-ping.com/UUID"},
		{"query string", head + "    drill: https://hc-ping.com/" + pingSecret + "?create=1\n",
			nil, "mbackup.yaml:8: notify.ping.drill: must not hold a query (?...): /start and /fail are added to its path"},
		{"fragment", head + "    verify: \"https://hc-ping.com/" + pingSecret + "#x\"\n",
			nil, "mbackup.yaml:8: notify.ping.verify: must not hold a fragment (#...)"},
		{"bad URL from a file", head + "    backup_file: backup.url\n",
			map[string]string{"backup.url": "ftp://hc-ping.com/" + pingSecret + "\n"},
			"mbackup.yaml:8: notify.ping.backup_file: must be an http:// or https:// URL"},
		{"both backup and backup_file", head + "    backup: https://hc-ping.com/" + pingSecret + "\n    backup_file: backup.url\n",
			map[string]string{"backup.url": "https://hc-ping.com/" + pingSecret + "\n"},
			"mbackup.yaml:9: notify.ping.backup_file: set either backup or backup_file, not both"},
		{"empty file", head + "    mirror_file: mirror.url\n", map[string]string{"mirror.url": "\n"},
			"mbackup.yaml:8: notify.ping.mirror_file: DIR/mirror.url is empty"},
		{"timeout too short", head + "    timeout: 500ms\n", nil, "mbackup.yaml:8: notify.ping.timeout: must be between 1s and 60s"},
		{"timeout too long", head + "    timeout: 2m\n", nil, "mbackup.yaml:8: notify.ping.timeout: must be between 1s and 60s"},
		{"timeout zero", head + "    timeout: 0s\n", nil, "mbackup.yaml:8: notify.ping.timeout: must be between 1s and 60s"},
		{"unknown task", head + "    restore: https://hc-ping.com/" + pingSecret + "\n", nil, "mbackup.yaml:8: notify.ping.restore: unknown key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, c.files)
			_, warns, err := loadYAML(t, dir, c.yaml)
			if err == nil {
				t.Fatalf("loaded, want %q", c.want)
			}
			if got := strings.ReplaceAll(err.Error(), dir, "DIR"); got != c.want {
				t.Errorf("error:\n got: %s\nwant: %s", got, c.want)
			}
			if strings.Contains(err.Error()+fmt.Sprint(warns), "hunter2") {
				t.Errorf("a ping URL in the error or warnings: %v %v", err, warns)
			}
		})
	}
}

// TestPingExample: the commented ping block of the example configuration
// loads once uncommented.
func TestPingExample(t *testing.T) {
	example, err := os.ReadFile("../../configs/mbackup.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	for _, line := range strings.Split(string(example), "\n") {
		switch {
		case line == "  # ping:":
			in = true
		case in && !strings.HasPrefix(line, "  #   "):
			in = false
		}
		if in {
			block = append(block, strings.Replace(line, "# ", "", 1))
		}
	}
	if len(block) < 3 {
		t.Fatalf("no ping block in the example: %q", block)
	}
	dir := t.TempDir()
	files := map[string]string{}
	for _, task := range []string{"backup", "mirror", "prune"} {
		files["ping-"+task+".url"] = "https://hc-ping.com/" + pingSecret + "-" + task + "\n"
	}
	writeFiles(t, dir, files)
	yaml := base + "notify:\n" + strings.ReplaceAll(strings.Join(block, "\n"), "/etc/mbackup/", dir+"/") + "\n"
	c, _, err := loadYAML(t, dir, yaml)
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	if urls := c.Notify.Ping.URLs(); len(urls) != 3 || urls["prune"].Reveal() != "https://hc-ping.com/"+pingSecret+"-prune" ||
		c.Notify.Ping.Timeout != Duration(DefaultPingTimeout) {
		t.Errorf("the example's block loaded as %+v", c.Notify.Ping)
	}
}
