package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// readmeSection returns the text of README.md's "## title" section.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("README.md has no %q section", "## "+title)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	return section
}

// codeBlock returns the first ```lang block of section.
func codeBlock(t *testing.T, section, lang string) string {
	t.Helper()
	_, block, ok := strings.Cut(section, "\n```"+lang+"\n")
	if !ok {
		t.Fatalf("the section has no ```%s block", lang)
	}
	block, _, ok = strings.Cut(block, "\n```\n")
	if !ok {
		t.Fatalf("the section's ```%s block does not end", lang)
	}
	return block
}

// mbackupLines returns the mbackup commands of a sh block, each split
// into its arguments (after "mbackup"), comments dropped.
func mbackupLines(block string) [][]string {
	var out [][]string
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "mbackup" {
			out = append(out, f[1:])
		}
	}
	return out
}

// TestReadmeMoveToNewMachine follows README.md's "Move to a new machine"
// as printed: a configuration with only the sections the README names,
// the identity file, the dry run, then the restore, each answered as an
// admin would type, onto fresh servers standing for the new machine's.
func TestReadmeMoveToNewMachine(t *testing.T) {
	section := readmeSection(t, "Move to a new machine")
	yaml := codeBlock(t, section, "yaml")
	top := regexp.MustCompile(`(?m)^([a-z_]+):`).FindAllStringSubmatch(yaml, -1)
	var keys []string
	for _, m := range top {
		keys = append(keys, m[1])
	}
	if strings.Join(keys, ",") != "host,storage,encryption" || !strings.Contains(yaml, "recipients:") ||
		!strings.Contains(yaml, "signer:") || strings.Contains(yaml, "signing_key_file") {
		t.Fatalf("the README's configuration has the sections %v:\n%s", keys, yaml)
	}
	cmds := mbackupLines(codeBlock(t, section, "sh"))
	if len(cmds) != 2 || strings.Join(cmds[0], " ") != "restore --dry-run" || strings.Join(cmds[1], " ") != "restore" {
		t.Fatalf("the README's commands are %q, the test runs restore --dry-run then restore", cmds)
	}

	dir, cfg, m := restoreFixture(t)
	t.Setenv("MBACKUP_CONFIG", minimalConfig(t, cfg))
	f := startFresh(t)
	os.Unsetenv("PGPASSWORD") // asked for, as on a new machine; t.Setenv puts them back
	os.Unsetenv("MYSQL_PWD")
	answers := []string{
		"", filepath.Join(dir, "id.txt"),
		"", "yes", "", // postgres, redis (the old machine was stopped first), mysql
		f.pg.Host, strconv.Itoa(f.pg.Port), f.pg.User, f.pg.Password,
		f.maria.Host, strconv.Itoa(f.maria.Port), f.maria.User, f.maria.Password,
		f.redis.Dir, "",
		"", // clean: no
	}
	code, out, errOut := mbackupIn(t, strings.Join(answers, "\n")+"\n", cmds[0]...)
	if code != exitOK || !strings.Contains(out, "the restore would start") {
		t.Fatalf("mbackup %s exited %d:\n%s\n%s", strings.Join(cmds[0], " "), code, out, errOut)
	}
	f.untouched(t)
	code, out, errOut = mbackupIn(t, strings.Join(answers, "\n")+"\nrestore\n", cmds[1]...)
	t.Logf("mbackup restore printed:\n%s", out)
	if code != exitOK {
		t.Fatalf("mbackup restore exited %d:\n%s\n%s", code, out, errOut)
	}
	if got := f.pg.Query(t, "rst_app", "SELECT count(*) FROM toots"); got != "3000" {
		t.Errorf("rst_app.toots: %s rows", got)
	}
	if got := f.maria.Query(t, "rst_blog", "SELECT count(*) FROM posts"); got != "2" {
		t.Errorf("rst_blog.posts: %s rows", got)
	}
	f.redis.Start(t)
	if got := f.redis.Do(t, "GET", "rst:key"); got != "value" {
		t.Errorf("rst:key: %q", got)
	}
	if !strings.Contains(out, "snapshot "+m.ID) || !strings.Contains(out, "(the recovery time, RTO)") {
		t.Error("the report lacks the snapshot or the recovery time")
	}
}

// minimalConfig writes beside cfg a configuration with only its host,
// storage and encryption (recipients and signer) sections, as the README
// says to write on the new machine.
func minimalConfig(t *testing.T, cfg string) string {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" && line[0] != ' ' {
			name, _, _ := strings.Cut(line, ":")
			in = name == "host" || name == "storage" || name == "encryption"
		}
		if in && !strings.Contains(line, "signing_key_file") {
			keep = append(keep, line)
		}
	}
	path := filepath.Join(filepath.Dir(cfg), "new-machine.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(keep, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("the new machine's configuration:\n%s", strings.Join(keep, "\n"))
	if text := strings.Join(keep, "\n"); strings.Contains(text, "postgres") || !strings.Contains(text, "signer:") {
		t.Fatalf("not minimal: %s", text)
	}
	return path
}
