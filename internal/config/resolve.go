package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"mbackup/internal/sshsig"
)

// resolver reads the files a configuration names, collecting problems and
// warnings.
type resolver struct {
	src      *source
	problems []*Problem
	warnings []Warning
}

func (r *resolver) problem(path, format string, args ...any) {
	r.problems = append(r.problems, r.src.problem(path, format, args...))
}

func (r *resolver) warn(path, format string, args ...any) {
	p := r.src.problem(path, format, args...)
	r.warnings = append(r.warnings, Warning{File: p.File, Line: p.Line, Path: p.Path, Message: p.Message})
}

// secretRef is a secret x and its x_file field.
type secretRef struct {
	path string // YAML path of x
	val  *Secret
	file *string
}

// secretRefs lists every secret of c.
func (c *Config) secretRefs() []secretRef {
	s := &c.Storage
	refs := []secretRef{
		{"storage.application_key", &s.ApplicationKey, &s.ApplicationKeyFile},
		{"storage.secret_access_key", &s.SecretAccessKey, &s.SecretAccessKeyFile},
	}
	if p := c.Postgres; p != nil {
		refs = append(refs, secretRef{"postgres.password", &p.Password, &p.PasswordFile})
	}
	for i := range c.Redis {
		rd := &c.Redis[i]
		refs = append(refs, secretRef{fmt.Sprintf("redis[%d].password", i), &rd.Password, &rd.PasswordFile})
	}
	if m := c.MySQL; m != nil {
		refs = append(refs, secretRef{"mysql.password", &m.Password, &m.PasswordFile})
	}
	if m := c.Media; m != nil {
		src := &m.Source
		refs = append(refs, secretRef{"media.source.secret_access_key", &src.SecretAccessKey, &src.SecretAccessKeyFile})
	}
	if c.Notify != nil && c.Notify.Slack != nil {
		sl := c.Notify.Slack
		refs = append(refs,
			secretRef{"notify.slack.webhook_url", &sl.WebhookURL, &sl.WebhookURLFile},
			secretRef{"notify.slack.token", &sl.Token, &sl.TokenFile})
	}
	refs = append(refs, c.pingSecretRefs()...)
	return refs
}

// secrets reads every x_file into x.
func (r *resolver) secrets(c *Config) {
	for _, ref := range c.secretRefs() {
		if *ref.file == "" {
			continue
		}
		name := ref.path[strings.LastIndexByte(ref.path, '.')+1:]
		filePath := ref.path + "_file"
		if ref.val.IsSet() {
			r.problem(filePath, "set either %s or %s_file, not both", name, name)
			continue
		}
		*ref.file = r.abs(*ref.file)
		data, ok := r.readFile(filePath, *ref.file, true)
		if !ok {
			continue
		}
		v := strings.TrimRight(string(data), "\r\n")
		if v == "" {
			r.problem(filePath, "%s is empty", *ref.file)
			continue
		}
		*ref.val = NewSecret(v)
	}
}

// storagePath anchors a local store's relative path to the configuration
// file, as every other path of the file is: the same store whatever the
// working directory of the command.
func (r *resolver) storagePath(c *Config) {
	if c.Storage.Type == StorageLocal {
		c.Storage.Path = r.abs(c.Storage.Path)
	}
}

// abs makes a relative path relative to the configuration file.
func (r *resolver) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(r.src.dir, p)
}

// readFile reads the file named at path, reporting a problem when it
// cannot and, for a secret, a warning when every user may read it.
func (r *resolver) readFile(path, name string, secret bool) ([]byte, bool) {
	data, err := os.ReadFile(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		r.problem(path, "cannot read %s: %v", name, err)
		return nil, false
	}
	if fi, err := os.Stat(name); err == nil && secret && fi.Mode().Perm()&0o004 != 0 {
		r.warn(path, "%s is readable by every user; chmod o-r it", name)
	}
	return data, true
}

// signing checks the pinned signer and anchors the signing key's path.
func (r *resolver) signing(c *Config) {
	e := &c.Encryption
	e.SigningKeyFile = r.abs(e.SigningKeyFile)
	if c.Drill != nil {
		c.Drill.IdentityFile = r.abs(c.Drill.IdentityFile)
	}
	if e.Signer != "" {
		if _, err := sshsig.ParsePublicKey(e.Signer); err != nil {
			r.problem("encryption.signer", "not a signing public key (the ssh-ed25519 line mbackup init or keygen --signing printed)")
		}
	}
}

// recipients reads the recipients file and fills Encryption.All.
func (r *resolver) recipients(c *Config) {
	e := &c.Encryption
	e.All = appendNew(nil, e.Recipients...)
	if e.RecipientsFile == "" {
		return
	}
	e.RecipientsFile = r.abs(e.RecipientsFile)
	data, ok := r.readFile("encryption.recipients_file", e.RecipientsFile, false)
	if !ok {
		return
	}
	lines := readRecipients(data)
	if len(lines) == 0 {
		r.problem("encryption.recipients_file", "%s holds no recipients", e.RecipientsFile)
	}
	for _, l := range lines {
		if _, err := parseRecipient(l.text, e.PostQuantum); err != nil {
			r.problem("encryption.recipients_file", "%s line %d: %v", e.RecipientsFile, l.line, err)
			continue
		}
		e.All = appendNew(e.All, l.text)
	}
}

// appendNew appends the elements of add not already in list.
func appendNew(list []string, add ...string) []string {
	for _, a := range add {
		a = strings.TrimSpace(a)
		dup := false
		for _, l := range list {
			dup = dup || l == a
		}
		if !dup {
			list = append(list, a)
		}
	}
	return list
}

// redisURLs moves a password found in a Redis URL into Password, so that
// the URL can be logged.
func (r *resolver) redisURLs(c *Config) {
	for i := range c.Redis {
		rd := &c.Redis[i]
		u, err := url.Parse(rd.URL)
		if err != nil || u.User == nil {
			continue // Validate reports a bad URL
		}
		pw, ok := u.User.Password()
		if !ok {
			continue
		}
		if rd.Password.IsSet() {
			r.problem(fmt.Sprintf("redis[%d].url", i), "the url holds a password and password is set too")
			continue
		}
		rd.Password = NewSecret(pw)
		name := u.User.Username()
		u.User = nil
		if name != "" {
			u.User = url.User(name)
		}
		rd.URL = u.String()
	}
}

// inlineSecrets warns about the secrets written in a configuration file
// that every user may read (those from ${NAME} or x_file are fine).
func (r *resolver) inlineSecrets(c *Config) {
	for _, ref := range c.secretRefs() {
		fromURL := strings.HasPrefix(ref.path, "redis[") && r.src.has(parent(ref.path)+".url") &&
			!r.src.has(ref.path)
		if !ref.val.IsSet() || *ref.file != "" || r.src.expanded[ref.path] ||
			(fromURL && r.src.expanded[parent(ref.path)+".url"]) {
			continue
		}
		name := ref.path[strings.LastIndexByte(ref.path, '.')+1:]
		r.warn(ref.path, "a secret written in %s, which every user may read; chmod o-r it, or use %s_file",
			r.src.file, name)
	}
}
