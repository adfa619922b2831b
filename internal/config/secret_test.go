package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

func TestSecretNeverPrinted(t *testing.T) {
	const value = "hunter2-very-secret"
	s := NewSecret(value)
	if s.Reveal() != value || !s.IsSet() {
		t.Fatalf("Reveal() = %q, IsSet() = %v", s.Reveal(), s.IsSet())
	}
	type holder struct {
		Exported Secret
		hidden   Secret
	}
	h := holder{Exported: s, hidden: s}
	c := &Config{Postgres: &Postgres{Password: s}, Redis: []Redis{{Name: "r", Password: s}}}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		outputs = append(outputs,
			fmt.Sprintf(verb, s), fmt.Sprintf(verb, &s), fmt.Sprintf(verb, h),
			fmt.Sprintf(verb, c), fmt.Sprintf(verb, *c.Postgres), fmt.Sprintf(verb, c.Redis))
	}
	outputs = append(outputs, fmt.Sprint(s), fmt.Sprintln(h), s.String(), s.GoString())
	for _, v := range []any{s, h, c, c.Postgres} {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, string(j))
		y, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, string(y))
	}
	txt, _ := s.MarshalText()
	outputs = append(outputs, string(txt))
	var buf bytes.Buffer
	for _, handler := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(handler)
		l.Info("secret", "s", s, "p", &s, "holder", h, "pg", c.Postgres, "cfg", c, slog.Any("any", s))
		l.Info("group", slog.Group("g", "s", s))
	}
	outputs = append(outputs, buf.String())
	for _, out := range outputs {
		if strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) {
			t.Errorf("secret printed: %s", out)
		}
	}
	if got := fmt.Sprintf("%v %s %#v", s, s, s); got != "[redacted] [redacted] [redacted]" {
		t.Errorf("printed as %q", got)
	}
	if j, _ := json.Marshal(s); string(j) != `"[redacted]"` {
		t.Errorf("json %s", j)
	}
	if !strings.Contains(buf.String(), "s=[redacted]") || !strings.Contains(buf.String(), `"s":"[redacted]"`) {
		t.Errorf("slog output lacks the marker:\n%s", buf.String())
	}
}

func TestSecretUnset(t *testing.T) {
	var s Secret
	if s.IsSet() || s.Reveal() != "" || s.String() != "[unset]" || NewSecret("").IsSet() {
		t.Errorf("unset secret: IsSet %v, Reveal %q, String %q", s.IsSet(), s.Reveal(), s.String())
	}
	if j, _ := json.Marshal(s); string(j) != `"[unset]"` {
		t.Errorf("json %s", j)
	}
}
