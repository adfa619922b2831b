// Package explain turns the failure of a source (a PostgreSQL, Redis or
// MySQL server a backup reads) into what an admin reads first: the cause
// in a few words, then the fix, then the setting to look at, as in
//
//	cannot connect to 127.0.0.1:6999: connection refused — is redis-server running? (redis[0].url)
//
// rather than the chain of wrappings a Go error carries
// ("redisdump: server version main: redis-cli: exit status 1: Could not
// connect to Redis at 127.0.0.1:6999: Connection refused").
//
// Invariants:
//   - Pure: it reads the error's text only, never the network or a file.
//   - Of's Fix is never empty: a cause it does not recognise keeps the
//     error's own text, with the source's generic fix (for check's ❌);
//     Job keeps such an error's text alone.
//   - It adds no secret: only an address the error already names and the
//     names of settings.
package explain

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"mbackup/internal/config"
	"mbackup/internal/storage"
)

// Source is a configured source, as an error about it is explained.
type Source struct {
	Kind     string // "postgres", "redis", "mysql"
	Setting  string // where its address is set: "redis[0].url", "postgres.host"
	Password string // where its password is set: "postgres.password_file"
}

// Explained is a failure as an admin reads it.
type Explained struct {
	Cause string // what went wrong, in a few words
	Fix   string // what to do, ending with the setting to look at
}

// String is "CAUSE — FIX".
func (e Explained) String() string { return e.Cause + " — " + e.Fix }

// server is the program a source's kind runs as, for "is it running?".
var server = map[string]string{"postgres": "PostgreSQL", "redis": "redis-server", "mysql": "the MariaDB/MySQL server"}

// A rule recognises one cause in an error's text.
type rule struct {
	match   *regexp.Regexp
	explain func(s Source, addr string, m []string) Explained
}

var (
	// addrREs find the address a client tried, in the words of the
	// clients: redis-cli, pgx, Go's dialer, the mariadb client.
	addrREs = []*regexp.Regexp{
		regexp.MustCompile(`dial tcp (\[[^\]]*\]:\d+|[^\s:]+:\d+)`),
		regexp.MustCompile(`Redis at (\[[^\]]*\]:\d+|[^\s:]+:\d+|/[^\s:]+)`),
		regexp.MustCompile(`([^\s:]+:\d+) \([^)]*\): `),
		regexp.MustCompile(`(?:server on|through socket|server host) '([^']+)'`),
		regexp.MustCompile(`lookup ([^\s:]+)`),
	}
	rules = []rule{
		{regexp.MustCompile(`(?i)connection refused|\(111\)|Can't connect to (?:MySQL |MariaDB )?server on`), func(s Source, addr string, _ []string) Explained {
			return Explained{"cannot connect to " + addr + ": connection refused", fmt.Sprintf("is %s running? (%s)", server[s.Kind], s.Setting)}
		}},
		{regexp.MustCompile(`(?i)no such file or directory|through socket '[^']*' \(2\)`), func(s Source, addr string, _ []string) Explained {
			return Explained{"cannot connect to " + addr + ": no such socket", fmt.Sprintf("is %s running, and is this its socket? (%s)", server[s.Kind], s.Setting)}
		}},
		{regexp.MustCompile(`(?i)no such host|Name or service not known|Unknown (?:MySQL |MariaDB )?server host '([^']*)'|Temporary failure in name resolution`), func(s Source, addr string, _ []string) Explained {
			return Explained{"cannot resolve the host of " + addr, fmt.Sprintf("correct the host name (%s)", s.Setting)}
		}},
		{regexp.MustCompile(`(?i)i/o timeout|timed out|Connection timed out`), func(s Source, addr string, _ []string) Explained {
			return Explained{"no answer from " + addr, fmt.Sprintf("is a firewall dropping the connection, or the host down? (%s)", s.Setting)}
		}},
		{regexp.MustCompile(`(?i)password authentication failed for user "[^"]*"|Access denied for user '[^']*'@'[^']*'(?: \(using password: \w+\))?|WRONGPASS[^\n]*|NOAUTH[^\n]*|invalid username-password pair|invalid password`), func(s Source, addr string, m []string) Explained {
			// The server's own words name the user and what it refused.
			return Explained{addr + " refused the login: " + m[0], fmt.Sprintf("check the user and password (%s)", s.Password)}
		}},
		{regexp.MustCompile(`no pg_hba\.conf entry for host "([^"]*)", user "([^"]*)"`), func(s Source, addr string, m []string) Explained {
			return Explained{fmt.Sprintf("%s allows no connection from %s as %s", addr, m[1], m[2]),
				fmt.Sprintf("add a line for them to pg_hba.conf and reload PostgreSQL (%s)", s.Setting)}
		}},
	}
)

// Of explains err, a failure of the source s.
func Of(err error, s Source) Explained {
	if x, ok := known(err, s); ok {
		return x
	}
	text := err.Error()
	if strings.Contains(text, "install it with") || strings.Contains(text, "apt-get install") {
		return Explained{text, "install it as said, then run mbackup check"} // it names its fix already
	}
	return Explained{text, fmt.Sprintf("check that %s is up and that %s and %s are right", server[s.Kind], s.Setting, s.Password)}
}

// known explains err when it recognises the cause.
func known(err error, s Source) (Explained, bool) {
	text := err.Error()
	for _, r := range rules {
		if m := r.match.FindStringSubmatch(text); m != nil {
			return r.explain(s, address(text), m), true
		}
	}
	return Explained{}, false
}

// address is the address text names, or "the server" when it names none.
func address(text string) string {
	for _, re := range addrREs {
		if m := re.FindStringSubmatch(text); m != nil {
			return m[1]
		}
	}
	return "the server"
}

// Job explains the failure of the backup job of component and name under
// cfg: "CAUSE — FIX (SETTING)" for a cause it recognises (a source's, or
// the store's storage cap), err's own text otherwise (a stalled or killed
// producer, a files entry, another failure of the store), which a generic
// fix would only blur.
func Job(cfg *config.Config, component, name string, err error) string {
	if StorageCap(err) {
		return StorageCapText
	}
	s, ok := SourceOf(cfg, component, name)
	if !ok {
		return err.Error()
	}
	if x, ok := known(err, s); ok {
		return x.String()
	}
	return err.Error()
}

// StorageCapText is a write refused at the store's storage cap as an
// admin reads it. It holds storage.ErrStorageCap's words, so StorageCap
// recognises it in a reason that only kept the text (a manifest's).
var StorageCapText = "the store refused the upload: " + storage.ErrStorageCap.Error() + " (the B2 account's storage cap is reached) — " + StorageCapFix

// StorageCapFix says what to raise where when the storage cap is reached.
const StorageCapFix = "raise the storage cap in the B2 web console (Account > Caps & Alerts, storage cap), " +
	"or free space (mbackup prune); list, status and prune keep working at the cap"

// StorageCap reports whether err is, or tells of, a write refused at the
// store's storage cap: it wraps storage.ErrStorageCap, or its text (a
// snapshot's failures, joined from their reasons) names it.
func StorageCap(err error) bool {
	return err != nil && (errors.Is(err, storage.ErrStorageCap) || strings.Contains(err.Error(), storage.ErrStorageCap.Error()))
}

// The sources a configuration names.
var (
	Postgres = Source{"postgres", "postgres.host, postgres.port", "postgres.user, postgres.password_file"}
	MySQL    = Source{"mysql", "mysql.host, mysql.port", "mysql.user, mysql.password_file"}
)

// Redis is the i-th entry of the redis section.
func Redis(i int) Source {
	p := fmt.Sprintf("redis[%d]", i)
	return Source{"redis", p + ".url", p + ".url, " + p + ".password_file"}
}

// SourceOf is the source of cfg that the backup jobs of component (and,
// for redis, name) read.
func SourceOf(cfg *config.Config, component, name string) (Source, bool) {
	switch component {
	case "postgres":
		return Postgres, cfg.Postgres != nil
	case "mysql":
		return MySQL, cfg.MySQL != nil
	case "redis":
		for i, r := range cfg.Redis {
			if r.Name == name {
				return Redis(i), true
			}
		}
	}
	return Source{}, false
}
