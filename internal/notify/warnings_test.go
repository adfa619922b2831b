package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const shrinkLine = "postgres/mastodon_production: 12.1 MiB, was 987.0 MiB in 20261122T150000Z-aaaaaa (−99 %): " +
	"retention keeps 20261122T150000Z-aaaaaa until `mbackup accept-shrink 20261123T030000Z-4f2a`"

// TestWarnings: a successful run with a warning posts a message whose
// header, a section and the fallback text carry ⚠️ and the line; with
// on: failure it is posted too, and a secret in a warning is redacted.
func TestWarnings(t *testing.T) {
	for _, on := range []string{"always", "failure"} {
		t.Run(on, func(t *testing.T) {
			srv, rec := webhookServer(t, http.StatusOK)
			s := newSlack(t, Config{WebhookURL: srv.URL + hookPath, On: on, Secrets: []string{password}})
			e := testEvent()
			e.Result, e.Failures = "success", nil
			e.Warnings = []string{shrinkLine, "shrink guard not applied: snapshot: list: " + password}
			if err := s.Notify(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			body := rec.last(t)
			assertNoSecret(t, "body", body)
			var msg struct {
				Text   string  `json:"text"`
				Blocks []block `json:"blocks"`
			}
			if err := json.Unmarshal([]byte(body), &msg); err != nil {
				t.Fatal(err)
			}
			texts := blockTexts(t, msg.Blocks)
			if h := texts["header"]; len(h) != 1 || h[0] != "✅ backup of "+testHost+": success, ⚠️ 2 warnings" {
				t.Errorf("header %q", h)
			}
			var section string
			for _, s := range texts["section"] {
				if strings.HasPrefix(s, "*Warnings (2)*") {
					section = s
				}
			}
			if !strings.Contains(section, "\n⚠️ "+shrinkLine+"\n⚠️ shrink guard not applied") {
				t.Errorf("no warnings section with the lines: %q", texts["section"])
			}
			if !strings.Contains(msg.Text, "\n⚠️ "+shrinkLine) {
				t.Errorf("fallback text lacks the line:\n%s", msg.Text)
			}
		})
	}
}

// TestNoWarningsNoSection: without warnings the message is as before.
func TestNoWarningsNoSection(t *testing.T) {
	e := testEvent()
	e.Result = "success"
	text, blocks := Message(e)
	if strings.Contains(text, "⚠️") {
		t.Errorf("fallback has a warning: %s", text)
	}
	b, _ := json.Marshal(blocks)
	if strings.Contains(string(b), "Warnings") || strings.Contains(string(b), "warning") {
		t.Errorf("blocks have a warnings part: %s", b)
	}
}
