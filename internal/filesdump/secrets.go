package filesdump

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"mbackup/internal/dotenv"
)

// EnvFile is the base name of Mastodon's configuration, whose secrets keys
// a backup records (names only).
const EnvFile = ".env.production"

// secretKeys and what is lost without each.
var secretKeys = []struct{ key, loss string }{
	{"SECRET_KEY_BASE", "sessions and signed cookies are invalid: every user is logged out"},
	{"OTP_SECRET", "two-factor (TOTP) codes of the users no longer match"},
	{"VAPID_PRIVATE_KEY", "web push stops: every browser must subscribe again"},
	{"VAPID_PUBLIC_KEY", "web push stops: every browser must subscribe again"},
	{"ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY", arLoss},
	{"ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT", arLoss},
	{"ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY", arLoss},
}

const arLoss = "the database columns Mastodon 4.3+ encrypts with it cannot be read " +
	"(Mastodon: never change these keys once set; an instance older than 4.3 does not use them)"

// Missing is a secrets key absent (or empty) from a .env.production.
type Missing struct{ Key, Loss string }

// Describe is the warning about m in the file path.
func (m Missing) Describe(path string) string {
	return fmt.Sprintf("%s: %s is missing or empty: without it %s", path, m.Key, m.Loss)
}

// SecretKeys parses data as a .env.production and returns the Mastodon
// secrets keys set in it (names, never values) and those missing. An error
// names the line of the file that does not parse, never a value.
func SecretKeys(data []byte) (set []string, missing []Missing, err error) {
	vals, err := dotenv.Parse(bytes.NewReader(data))
	if err != nil {
		var de *dotenv.Error
		if errors.As(err, &de) {
			return nil, nil, fmt.Errorf("not read as a dotenv file (line %d: %s): its Mastodon secrets keys were not checked", de.Line, de.Msg)
		}
		return nil, nil, errors.New("not read as a dotenv file: its Mastodon secrets keys were not checked")
	}
	for _, k := range secretKeys {
		if strings.TrimSpace(vals[k.key]) != "" {
			set = append(set, k.key)
		} else {
			missing = append(missing, Missing{k.key, k.loss})
		}
	}
	return set, missing, nil
}

// MissingKeys returns the secrets keys absent from set, the names a
// manifest recorded for a .env.production.
func MissingKeys(set []string) []Missing {
	var out []Missing
	for _, k := range secretKeys {
		if !slices.Contains(set, k.key) {
			out = append(out, Missing{k.key, k.loss})
		}
	}
	return out
}
