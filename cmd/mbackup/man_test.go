package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestManPage renders "mbackup help --man" with groff, which must not warn,
// and finds in the page every command with its flags, every global flag
// and every exit code the help gives.
func TestManPage(t *testing.T) {
	needBinary(t, "groff", "apt-get install groff-base")
	code, page, errOut := mbackup(t, "help", "--man")
	if code != exitOK || errOut != "" {
		t.Fatalf("help --man: exit %d: %s", code, errOut)
	}
	path := filepath.Join(t.TempDir(), "mbackup.1")
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	// -k: the page is UTF-8 (check's ✅/⚠️/❌); -ww: every warning.
	var stderr bytes.Buffer
	cmd := exec.Command("groff", "-k", "-man", "-Tutf8", "-ww", "-P", "-cbou", path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("groff: %v\n%s", err, stderr.String())
	}
	// groff may typeset \- as a minus sign and break lines anywhere between
	// words: compare with one space between words and ASCII hyphens.
	text := strings.Join(strings.Fields(strings.NewReplacer("−", "-", "‐", "-").Replace(string(out))), " ")
	var want []string
	for _, c := range commands() {
		want = append(want, synopsis(c, len(ownFlags(commandFlags(context.Background(), c))) > 0))
		for _, f := range ownFlags(commandFlags(context.Background(), c)) {
			want = append(want, flagTerm(f)+" "+strings.Join(strings.Fields(flagText(f)), " "))
		}
		want = append(want, strings.Join(strings.Fields(c.summary), " "))
	}
	for _, x := range append(globalFlags(), exitCodes()...) {
		want = append(want, x.term+" "+x.text)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("the man page lacks %q", w)
		}
	}
	if !strings.HasPrefix(text, "MBACKUP(1) mbackup manual MBACKUP(1) NAME mbackup - back up") {
		t.Errorf("the man page does not begin with its title and name: %.120q", text)
	}
}

// TestRoffText: text that would read as a roff request is escaped.
func TestRoffText(t *testing.T) {
	for in, want := range map[string]string{
		".env.production is read":   `\&.env.production is read`,
		"'quoted' first":            `\&'quoted' first`,
		`a\b --flag`:                `a\eb \-\-flag`,
		"plain text, one line only": "plain text, one line only",
	} {
		if got := roffText(in); got != want {
			t.Errorf("roffText(%q) = %q, want %q", in, got, want)
		}
	}
}
