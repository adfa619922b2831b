package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"
)

// identityHint is the whole message for an age identity given as a recipient.
const identityHint = "that is an identity, the backup host must only hold recipients"

// AgeRecipients parses e.All (every recipient, filled by Load), or
// e.Recipients for an Encryption built in code without All.
func (e *Encryption) AgeRecipients() ([]age.Recipient, error) {
	rs := e.All
	if len(rs) == 0 {
		rs = e.Recipients
	}
	return ParseRecipients(rs, e.PostQuantum)
}

// ParseRecipients parses age X25519 ("age1...") recipients, and
// post-quantum ("age1pq1...") ones when postQuantum is
// true. Errors give the index, never the text, of a bad recipient.
func ParseRecipients(rs []string, postQuantum bool) ([]age.Recipient, error) {
	out := make([]age.Recipient, 0, len(rs))
	for i, s := range rs {
		r, err := parseRecipient(s, postQuantum)
		if err != nil {
			return nil, fmt.Errorf("config: recipient %d: %w", i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// parseRecipient parses one recipient. Its errors never contain s, which
// may be a secret key pasted in the wrong place.
func parseRecipient(s string, postQuantum bool) (age.Recipient, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(strings.ToUpper(s), "AGE-SECRET-KEY-"),
		strings.HasPrefix(strings.ToUpper(s), "AGE-PLUGIN-"):
		return nil, errors.New(identityHint)
	case strings.HasPrefix(s, "-----BEGIN"):
		return nil, errors.New("that is a private key, the backup host must only hold recipients")
	case strings.HasPrefix(s, "age1pq1"):
		if !postQuantum {
			return nil, errors.New("post-quantum recipient needs encryption.post_quantum: true " +
				"(age before v1.3, such as Debian 12's 1.1.1, cannot decrypt files made for it)")
		}
		r, err := age.ParseHybridRecipient(s)
		if err != nil {
			return nil, errors.New("not a valid age1pq1 recipient")
		}
		return r, nil
	case strings.HasPrefix(s, "age1"):
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, errors.New("not a valid age recipient")
		}
		return r, nil
	case strings.HasPrefix(s, "ssh-"):
		return nil, errors.New("ssh keys are not supported as recipients: use an age1... recipient from mbackup keygen")
	}
	return nil, errors.New("not an age recipient (want age1...)")
}

// recipientLine is one recipient read from a recipients file.
type recipientLine struct {
	line int
	text string
}

// readRecipients splits a recipients file as "age -R" does: one recipient
// a line, blank lines and # comments skipped.
func readRecipients(data []byte) []recipientLine {
	var out []recipientLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		out = append(out, recipientLine{line: n, text: t})
	}
	return out
}
