package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// completionScript writes "mbackup completion SHELL" to a file and checks
// it with the shell's own syntax check.
func completionScript(t *testing.T, shell string, check ...string) string {
	t.Helper()
	needBinary(t, shell, "apt-get install "+shell)
	code, out, errOut := mbackup(t, "completion", shell)
	if code != exitOK || errOut != "" {
		t.Fatalf("completion %s: exit %d: %s", shell, code, errOut)
	}
	path := filepath.Join(t.TempDir(), "mbackup."+shell)
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(shell, append(check, path)...).CombinedOutput(); err != nil {
		t.Fatalf("%s %q rejects the script: %v\n%s", shell, check, err, b)
	}
	return path
}

func needBinary(t *testing.T, name, install string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed: %s", name, install)
	}
}

// TestBashCompletion loads the bash script and completes command lines as
// bash would, through the function it registers.
func TestBashCompletion(t *testing.T) {
	script := completionScript(t, "bash", "-n")
	for _, tc := range []struct {
		line      string // the words before the cursor, the last one being completed
		want, not []string
	}{
		{line: "mbackup ba", want: []string{"backup"}},
		{line: "mbackup ", want: []string{"quickstart", "restore", "completion", "version"}},
		{line: "mbackup --", want: []string{"--config", "--version", "--help"}},
		{line: "mbackup backup --o", want: []string{"--only"}},
		{line: "mbackup backup --", want: []string{"--only", "--notify", "--metrics-textfile", "--config", "--help"}},
		{line: "mbackup keygen --", want: []string{"--signing", "--help"}, not: []string{"--config"}},
		{line: "mbackup keygen -", want: []string{"-o", "-v"}},
		{line: "mbackup --config /etc/m.yaml ve", want: []string{"verify", "version"}},
		{line: "mbackup -v restore --dry", want: []string{"--dry-run"}},
		{line: "mbackup help re", want: []string{"restore"}},
		{line: "mbackup completion ", want: []string{"bash", "zsh", "fish"}},
		{line: "mbackup backup --metrics-textfile ", not: []string{"--only", "backup"}},
		{line: "mbackup restore ", not: []string{"restore", "--yes"}},
	} {
		words := strings.Split(tc.line, " ")
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, shq(w))
		}
		prog := "source " + shq(script) + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\n" +
			"COMP_CWORD=" + strconv.Itoa(len(words)-1) + "\n_mbackup\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		out, err := exec.Command("bash", "--norc", "--noprofile", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", tc.line, err, out)
		}
		checkCompletions(t, tc.line, strings.Fields(string(out)), tc.want, tc.not)
	}
}

// TestFishCompletion asks fish itself what it completes once the script is
// loaded.
func TestFishCompletion(t *testing.T) {
	script := completionScript(t, "fish", "--no-execute")
	home := t.TempDir()
	for _, tc := range []struct {
		line      string
		want, not []string
	}{
		{line: "mbackup ba", want: []string{"backup"}},
		{line: "mbackup backup --o", want: []string{"--only"}},
		{line: "mbackup keygen --", want: []string{"--signing", "--help"}, not: []string{"--config"}},
		{line: "mbackup list --", want: []string{"--json", "--config"}},
		{line: "mbackup help re", want: []string{"restore"}},
		{line: "mbackup completion ", want: []string{"bash", "zsh", "fish"}},
	} {
		cmd := exec.Command("fish", "--no-config", "-c", "source "+shq(script)+"; complete -C "+shq(tc.line))
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", tc.line, err, out)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			word, _, _ := strings.Cut(l, "\t")
			got = append(got, word)
		}
		checkCompletions(t, tc.line, got, tc.want, tc.not)
	}
}

// TestZshCompletion: the script passes zsh -n, and loaded after compinit
// it registers _mbackup for mbackup.
func TestZshCompletion(t *testing.T) {
	script := completionScript(t, "zsh", "-n")
	dump := filepath.Join(t.TempDir(), "zcompdump")
	prog := "autoload -Uz compinit && compinit -u -d " + shq(dump) + " && source " + shq(script) + " && print -r -- $_comps[mbackup]"
	out, err := exec.Command("zsh", "-f", "-c", prog).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "_mbackup" {
		t.Fatalf("zsh: %v: %q, want _mbackup registered", err, out)
	}
}

// TestCompletionUsage: no shell, or an unknown one, is a usage error.
func TestCompletionUsage(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		code, out, errOut := mbackup(t, args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, "bash, zsh or fish") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 naming the shells", args, code, out, errOut)
		}
	}
}

func checkCompletions(t *testing.T, line string, got, want, not []string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%q completes %q, want %q among them", line, got, w)
		}
	}
	for _, n := range not {
		if slices.Contains(got, n) {
			t.Errorf("%q completes %q, which it must not", line, n)
		}
	}
}
