package artifact

import (
	"strings"
	"testing"
)

func TestDecodeNameRejects(t *testing.T) {
	for s, want := range map[string]string{
		"a/b":   `'/'`,
		"a.b":   `'.'`,
		"%2":    "truncated",
		"%":     "truncated",
		"%2f":   "upper-case hex",
		"%G0":   "upper-case hex",
		"%41":   "written as itself",
		"a b":   `' '`,
		"x%5Cy": "",
	} {
		_, err := DecodeName(s)
		if want == "" {
			if err != nil {
				t.Errorf("DecodeName(%q) = %v", s, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeName(%q) = %v; want an error with %s", s, err, want)
		}
	}
}

// FuzzName checks that EncodeName is reversible and safe for any bytes,
// and that DecodeName accepts exactly the strings EncodeName writes.
func FuzzName(f *testing.F) {
	for _, s := range []string{"mastodon_production", "zz/../x", `a\b`, ".", "..", "%41", "%2f", "%", "é", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := EncodeName(s)
		if dec, err := DecodeName(enc); err != nil || dec != s {
			t.Fatalf("DecodeName(EncodeName(%q)) = %q, %v", s, dec, err)
		}
		for i := 0; i < len(enc); i++ {
			if c := enc[i]; !safeByte(c) && c != '%' {
				t.Fatalf("EncodeName(%q) = %q holds %q", s, enc, c)
			}
		}
		if dec, err := DecodeName(s); err == nil && EncodeName(dec) != s {
			t.Fatalf("DecodeName(%q) = %q, which encodes as %q", s, dec, EncodeName(dec))
		}
	})
}
