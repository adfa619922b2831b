package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"mbackup/internal/storage/b2"
	"mbackup/internal/storage/s3"
)

// validator collects problems, placing each on the line of its YAML path.
type validator struct {
	src   *source
	probs []*Problem
}

func (v *validator) add(path, format string, args ...any) {
	v.probs = append(v.probs, v.src.problem(path, format, args...))
}

// present reports whether the key at path was written in the file. For a
// Config built in code it is always false.
func (v *validator) present(path string) bool { return v.src.has(path) }

// Validate checks the whole configuration and returns every problem found,
// as [Problem] values joined with errors.Join and sorted by line, or nil.
// It reads no file: Load has already read the *_file secrets and the
// recipients file. Checks that need to know which keys were written (a
// setting of another storage type, say) only run on a Config from Load.
func (c *Config) Validate() error {
	v := &validator{src: c.src}
	if c.Host == "" || strings.ContainsAny(c.Host, "/ \t\n") {
		v.add("host", "must be a non-empty label without spaces or slashes")
	}
	c.Storage.validate(v)
	c.validateLock(v)
	c.Encryption.validate(v, !c.Verifier())
	if c.Postgres != nil {
		c.Postgres.validate(v)
	}
	validateRedis(v, c.Redis)
	if c.MySQL != nil {
		c.MySQL.validate(v)
	}
	if c.Media != nil {
		c.Media.validate(v)
	}
	c.Files = validateFiles(v, c.Files)
	if c.DumpStallTimeout < Duration(time.Second) {
		v.add("dump_stall_timeout", "must be at least 1s")
	}
	validateCron(v, "schedule.backup", c.Schedule.Backup)
	validateCron(v, "schedule.mirror", c.Schedule.Mirror)
	if c.Schedule.Verify != "" {
		validateCron(v, "schedule.verify", c.Schedule.Verify)
	}
	for path, n := range map[string]int{"retention.keep_daily": c.Retention.KeepDaily,
		"retention.keep_weekly": c.Retention.KeepWeekly, "retention.keep_monthly": c.Retention.KeepMonthly} {
		if n < 0 {
			v.add(path, "must not be negative")
		}
	}
	if c.Retention.KeepLast < 1 {
		v.add("retention.keep_last", "must be at least 1: the newest complete snapshot is always kept")
	}
	if c.Retention.KeepWithin < 0 {
		v.add("retention.keep_within", "must not be negative")
	}
	if t := c.Retention.ShrinkThreshold; t != 0 && (t < 1 || t > 99) {
		v.add("retention.shrink_threshold", `must be 1%% to 99%%, or "off"`)
	}
	if c.Notify != nil && c.Notify.Slack != nil {
		c.Notify.Slack.validate(v)
	}
	if c.Notify != nil && c.Notify.Ping != nil {
		c.Notify.Ping.validate(v)
	}
	if c.Drill != nil {
		c.Drill.validate(v)
	}
	if l := c.Metrics.Listen; l != "" {
		if err := checkHostPort(l); err != nil {
			v.add("metrics.listen", "%v", err)
		}
	}
	if len(v.probs) == 0 {
		return nil
	}
	return joinProblems(v.probs)
}

// storageFields says which storage settings belong to which types.
var storageFields = map[string][]string{
	StorageB2: {"bucket", "prefix", "endpoint", "key_id", "application_key", "application_key_file", "chunk_size",
		"concurrent_uploads", "call_timeout", "stall_timeout", "upload_timeout"},
	StorageS3: {"bucket", "prefix", "endpoint", "region", "access_key_id", "secret_access_key",
		"secret_access_key_file", "part_size", "concurrent_uploads", "call_timeout", "stall_timeout",
		"upload_timeout"},
	StorageLocal: {"path"},
}

func (s *Storage) validate(v *validator) {
	own, ok := storageFields[s.Type]
	if !ok {
		if s.Type == "" {
			v.add("storage.type", "required: b2, s3 or local")
		} else {
			v.add("storage.type", "unknown storage type %q (want b2, s3 or local)", s.Type)
		}
		return
	}
	s.foreignFields(v, own)
	switch s.Type {
	case StorageB2:
		required(v, "storage.bucket", s.Bucket != "")
		required(v, "storage.key_id", s.KeyID != "")
		requiredSecret(v, "storage.application_key", s.ApplicationKey, s.ApplicationKeyFile)
		sizeRange(v, "storage.chunk_size", s.ChunkSize, b2.MinChunkSize, b2.MaxChunkSize, "5MB", "5GB")
		if s.Endpoint != "" {
			checkLoopbackHTTP(v, "storage.endpoint", s.Endpoint)
		}
	case StorageS3:
		required(v, "storage.bucket", s.Bucket != "")
		checkEndpoint(v, "storage.endpoint", s.Endpoint)
		required(v, "storage.access_key_id", s.AccessKeyID != "")
		requiredSecret(v, "storage.secret_access_key", s.SecretAccessKey, s.SecretAccessKeyFile)
		sizeRange(v, "storage.part_size", s.PartSize, s3.MinPartSize, s3.MaxPartSize, "5MiB", "5GiB")
	case StorageLocal:
		required(v, "storage.path", s.Path != "")
		return
	}
	if err := checkPrefix(s.Prefix); err != nil {
		v.add("storage.prefix", "%v", err)
	}
	if s.ConcurrentUploads < 1 || s.ConcurrentUploads > 64 {
		v.add("storage.concurrent_uploads", "must be between 1 and 64")
	}
	for _, d := range []struct {
		name string
		d    Duration
	}{{"call_timeout", s.CallTimeout}, {"stall_timeout", s.StallTimeout}, {"upload_timeout", s.UploadTimeout}} {
		if d.d <= 0 {
			v.add("storage."+d.name, "must be more than zero: every call has a deadline")
		}
	}
}

// foreignFields reports the settings written for another storage type.
func (s *Storage) foreignFields(v *validator, own []string) {
	mine := map[string]bool{"type": true}
	for _, f := range own {
		mine[f] = true
	}
	for _, typ := range []string{StorageB2, StorageS3, StorageLocal} {
		for _, f := range storageFields[typ] {
			if !mine[f] && v.present("storage."+f) {
				v.add("storage."+f, "not a setting of storage type %s", s.Type)
				mine[f] = true // report once
			}
		}
	}
}

func required(v *validator, path string, ok bool) {
	if !ok {
		v.add(path, "required")
	}
}

// requiredSecret reports an unset secret, unless its x_file is set: Load
// has then reported why the file gave nothing.
func requiredSecret(v *validator, path string, s Secret, file string) {
	if !s.IsSet() && file == "" {
		name := path[strings.LastIndexByte(path, '.')+1:]
		v.add(path, "required (or %s_file)", name)
	}
}

func sizeRange(v *validator, path string, s, lo, hi Size, los, his string) {
	if s < lo || s > hi {
		v.add(path, "must be between %s and %s", los, his)
	}
}

// checkPrefix accepts "" or a key prefix such as "mastodon/": no leading
// slash, no empty, "." or ".." segment, no control character.
func checkPrefix(p string) error {
	if p == "" {
		return nil
	}
	if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return fmt.Errorf("must not contain control characters or backslashes")
	}
	segs := strings.Split(strings.TrimSuffix(p, "/"), "/")
	for _, seg := range segs {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("must be like \"mastodon/\": no leading or double slash, no . or .. segment")
		}
	}
	return nil
}

// ParseEndpoint splits an S3 endpoint into host[:port] and whether to use
// TLS: "host" and "https://host" use TLS, "http://host" does not.
func ParseEndpoint(e string) (host string, secure bool, err error) {
	secure = true
	switch {
	case strings.HasPrefix(e, "https://"):
		e = e[len("https://"):]
	case strings.HasPrefix(e, "http://"):
		e, secure = e[len("http://"):], false
	case strings.Contains(e, "://"):
		return "", false, fmt.Errorf("must be host[:port] or an http:// or https:// URL")
	}
	e = strings.TrimSuffix(e, "/")
	if e == "" || strings.ContainsAny(e, "/?#@ ") {
		return "", false, fmt.Errorf("must be host[:port] or an http:// or https:// URL, without a path")
	}
	return e, secure, nil
}

func checkEndpoint(v *validator, path, e string) {
	if e == "" {
		v.add(path, "required")
		return
	}
	if _, _, err := ParseEndpoint(e); err != nil {
		v.add(path, "%v", err)
	}
}

func checkPort(v *validator, path string, port int) {
	if port < 1 || port > 65535 {
		v.add(path, "must be between 1 and 65535")
	}
}

func checkHostPort(hp string) error {
	_, port, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Errorf("must be host:port, like 127.0.0.1:9787")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port must be between 1 and 65535")
	}
	return nil
}

// checkDatabases refuses empty, duplicate and slash-holding names: each
// becomes part of an object key.
func checkDatabases(v *validator, path string, dbs []string) {
	seen := map[string]bool{}
	for i, db := range dbs {
		p := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case strings.TrimSpace(db) == "":
			v.add(p, "empty database name")
		case strings.ContainsAny(db, "/\\") || db == "." || db == "..":
			v.add(p, "database name %q cannot be part of an object key", db)
		case seen[db]:
			v.add(p, "duplicate database %q", db)
		}
		seen[db] = true
	}
}

var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

func (p *Postgres) validate(v *validator) {
	checkPort(v, "postgres.port", p.Port)
	ok := false
	for _, m := range sslModes {
		ok = ok || p.SSLMode == m
	}
	if !ok {
		v.add("postgres.sslmode", "unknown sslmode %q (want %s)", p.SSLMode, strings.Join(sslModes, ", "))
	}
	checkDatabases(v, "postgres.databases", p.Databases)
}

func (m *MySQL) validate(v *validator) {
	checkPort(v, "mysql.port", m.Port)
	checkDatabases(v, "mysql.databases", m.Databases)
}

func validateRedis(v *validator, rs []Redis) {
	seen := map[string]bool{}
	for i, r := range rs {
		p := fmt.Sprintf("redis[%d]", i)
		switch {
		case r.Name == "":
			v.add(p+".name", "required")
		case !validName(r.Name):
			v.add(p+".name", "must be letters, digits, '.', '_' or '-'")
		case seen[r.Name]:
			v.add(p+".name", "duplicate redis name %q", r.Name)
		}
		seen[r.Name] = true
		if err := checkRedisURL(r.URL); err != nil {
			v.add(p+".url", "%v", err)
		}
	}
}

func validName(s string) bool {
	return s != "." && s != ".." && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '.' || r == '_' || r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	})
}

// checkRedisURL never quotes the URL: it may hold a password.
func checkRedisURL(s string) error {
	if s == "" {
		return fmt.Errorf("required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a valid URL")
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Host == "" {
			return fmt.Errorf("%s:// URL needs a host, like %s://localhost:6379/0", u.Scheme, u.Scheme)
		}
		if db := strings.Trim(u.Path, "/"); db != "" {
			if _, err := strconv.ParseUint(db, 10, 16); err != nil {
				return fmt.Errorf("the path must be a database number, like /0")
			}
		}
	case "unix":
		if u.Path == "" {
			return fmt.Errorf("unix:// URL needs a socket path, like unix:///run/redis/redis.sock")
		}
	default:
		return fmt.Errorf("scheme must be redis, rediss or unix")
	}
	return nil
}

// checkLoopbackHTTP requires an https:// URL, or http:// to this host.
func checkLoopbackHTTP(v *validator, path, raw string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		v.add(path, "must be an https:// URL")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		v.add(path, "must be an https:// URL (plain http only to this host: 127.0.0.1, ::1, localhost)")
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
