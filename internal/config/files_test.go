package config

import (
	"slices"
	"testing"
)

func TestFilesCleaned(t *testing.T) {
	c, _, err := loadYAML(t, t.TempDir(), base+"files:\n  - /etc//nginx/sites-available/mastodon/\n  - /home/mastodon/live/./.env.production\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/etc/nginx/sites-available/mastodon", "/home/mastodon/live/.env.production"}
	if !slices.Equal(c.Files, want) {
		t.Errorf("files = %q, want %q", c.Files, want)
	}
}

func TestFilesRefused(t *testing.T) {
	yaml := base + "files:\n" +
		"  - etc/nginx\n" + // 7
		"  - /etc/letsencrypt\n" + // 8
		"  - /etc/letsencrypt/live\n" + // 9
		"  - /etc/./letsencrypt/\n" + // 10
		"  - \"\"\n" + // 11
		"  - /home/mastodon/live/.env.production\n" + // 12
		"  - /home\n" + // 13
		"  - //\n" // 14
	_, _, err := loadYAML(t, t.TempDir(), yaml)
	var got []string
	for _, p := range problemsOf(err) {
		got = append(got, p.Error())
	}
	want := []string{
		`mbackup.yaml:7: files[0]: "etc/nginx" is not an absolute path: give it from /, such as /home/mastodon/live/.env.production`,
		"mbackup.yaml:9: files[2]: /etc/letsencrypt/live is inside files[1] (/etc/letsencrypt), which holds it already: remove one",
		"mbackup.yaml:10: files[3]: /etc/letsencrypt is given twice (files[1])",
		"mbackup.yaml:10: files[3]: /etc/letsencrypt holds files[2] (/etc/letsencrypt/live) already: remove one",
		"mbackup.yaml:11: files[4]: empty: give an absolute path, such as /home/mastodon/live/.env.production",
		"mbackup.yaml:13: files[6]: /home holds files[5] (/home/mastodon/live/.env.production) already: remove one",
		"mbackup.yaml:14: files[7]: / is the whole file system: list the files and directories to back up",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n got: %q\nwant: %q", got, want)
	}
}

func TestFilesWrongType(t *testing.T) {
	_, _, err := loadYAML(t, t.TempDir(), base+"files:\n  path: /etc\n")
	if err == nil {
		t.Fatal("a mapping as files loaded")
	}
}
