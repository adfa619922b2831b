package draft

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mbackup/internal/dotenv"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestMastodonGolden")

// TestMastodonGolden drafts each testdata/mastodon/*.env and compares the
// configuration, the summary, the secret files and the notes with its
// .golden file. The signing key is new on every run: its lines are masked.
func TestMastodonGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/mastodon/*.env")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			d := mastodonDraft(t, f)
			got := goldenText(d)
			golden := strings.TrimSuffix(f, ".env") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("the draft differs from %s (go test -update rewrites it):\n%s", golden, got)
			}
		})
	}
}

func mastodonDraft(t *testing.T, envFile string) *Draft {
	t.Helper()
	r, err := os.Open(envFile)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	vars, err := dotenv.Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Mastodon(vars, "/home/mastodon/live/.env.production")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var signerLine = regexp.MustCompile(`signer: ".*"`)

func goldenText(d *Draft) string {
	var b strings.Builder
	b.WriteString(signerLine.ReplaceAllString(d.YAML, `signer: "SIGNER"`))
	b.WriteString("--- found\n")
	for _, l := range d.Found {
		b.WriteString(l + "\n")
	}
	b.WriteString("--- secrets\n")
	for _, s := range d.Secrets {
		v := s.Value
		if s.Name == "signing.key" {
			v = "KEY"
		}
		b.WriteString(s.Name + " (" + s.What + "): " + v + "\n")
	}
	b.WriteString("--- notes\n")
	for _, l := range d.Notes {
		b.WriteString(l + "\n")
	}
	return b.String()
}
