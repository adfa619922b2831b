package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"mbackup/internal/dotenv"
	"mbackup/internal/sshsig"
)

// runInit drafts a configuration from Mastodon's .env.production: the
// sources (PostgreSQL, Redis, the media bucket) filled in, their secrets in
// 0600 files beside the configuration, and the storage and the recipients
// left as TODOs. Until those are filled in the configuration does not load:
// the TODO values are empty, which Load reports as required, on their line.
func runInit(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("init")
	from := fs.String("from", "", "Mastodon's `.env.production` to read, such as /home/mastodon/live/.env.production")
	out := fs.String("o", "mbackup.yaml", "configuration `file` to write; the secret files go beside it")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("init: unexpected argument %q", fs.Arg(0))
	}
	if *from == "" {
		return usagef("init: --from FILE is required: Mastodon's .env.production, such as /home/mastodon/live/.env.production")
	}
	f, err := os.Open(*from)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	vars, err := dotenv.Parse(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("init: %s: %w", *from, err)
	}
	d, err := draftConfig(vars, *from)
	if err != nil {
		return fmt.Errorf("init: %s: %w", *from, err)
	}
	dir := filepath.Dir(*out)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := writeDraft(*out, dir, d); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	fmt.Fprintf(e.stdout, "mbackup init: drafted %s from %s\n\n", *out, *from)
	for _, l := range d.found {
		fmt.Fprintf(e.stdout, "  %s\n", l)
	}
	if len(d.secrets) > 0 {
		fmt.Fprintln(e.stdout)
		for _, s := range d.secrets {
			fmt.Fprintf(e.stdout, "  wrote %s (0600): %s\n", filepath.Join(dir, s.name), s.what)
		}
	}
	for _, n := range d.notes {
		fmt.Fprintf(e.stdout, "\n  note: %s\n", n)
	}
	fmt.Fprintf(e.stdout, "\n  signer (keep this line with your identity; restores trust it):\n    %s\n", d.signer)
	fmt.Fprint(e.stdout, initNext(*out, dir))
	return nil
}

func initNext(cfg, dir string) string {
	return fmt.Sprintf(`
The storage and the recipients are still TODOs: %[1]s does not load until
they are filled in. Next:
  1. On your own computer, not this server: mbackup keygen -o ~/mbackup-identity.txt
     Paste the age1... recipient it prints into encryption.recipients. Keep the
     identity offline, in two places: it is the only way to read the backups.
  2. Create a B2 bucket and an application key restricted to it. Fill in
     storage.bucket and storage.key_id, and write the application key into
     %[2]s (chmod 600).
  3. mbackup --config %[1]s check
  4. mbackup --config %[1]s backup
`, cfg, filepath.Join(dir, "b2.key"))
}

// secretFile is a secret written to its own 0600 file beside the
// configuration, which names it in an x_file key.
type secretFile struct {
	name  string // file name, relative to the configuration's directory
	what  string // which settings it holds, for the summary
	value string
}

// draft is the configuration drafted from a .env file.
type draft struct {
	yaml    string
	secrets []secretFile
	found   []string // one line per source, without secrets
	notes   []string // what init left out or could not decide
	signer  string   // the public line of the signing key
}

// addSecret records a secret file and returns its name. A value already
// recorded for the same service (Redis main and Sidekiq sharing a password)
// reuses its file; another service gets its own even for an equal value, so
// that changing one password later does not break the other.
func (d *draft) addSecret(name, what, value string) string {
	service := func(n string) string {
		return strings.FieldsFunc(n, func(r rune) bool { return r == '.' || r == '-' })[0]
	}
	for i, s := range d.secrets {
		if s.value == value && service(s.name) == service(name) {
			d.secrets[i].what += ", " + what
			return s.name
		}
	}
	d.secrets = append(d.secrets, secretFile{name, what, value})
	return name
}

// writeDraft writes the secret files, then the configuration, all new:
// an existing one is an error naming it, before anything is written. On
// failure, what was written is removed.
func writeDraft(cfg, dir string, d *draft) (err error) {
	paths := []string{cfg}
	for _, s := range d.secrets {
		paths = append(paths, filepath.Join(dir, s.name))
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; refusing to overwrite it (move it away, or choose another file with -o)", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	var written []string
	defer func() {
		if err != nil {
			for _, p := range written {
				os.Remove(p)
			}
		}
	}()
	for i, s := range d.secrets {
		if err := writeNew(paths[i+1], []byte(s.value+"\n")); err != nil {
			return err
		}
		written = append(written, paths[i+1])
	}
	return writeNew(cfg, []byte(d.yaml))
}

// draftSigning makes the signing key, kept beside the configuration like
// the secrets, and pins its public half as the signer.
func draftSigning(b *strings.Builder, d *draft) error {
	host, _ := os.Hostname()
	priv, pub, err := sshsig.GenerateKey("mbackup@" + host)
	if err != nil {
		return err
	}
	name := d.addSecret("signing.key", "the key that signs every snapshot's manifest", strings.TrimSpace(string(priv)))
	d.signer = pub
	fmt.Fprintf(b, `  # Every manifest is signed with this key, made by init. Restore and
  # verify trust only snapshots signed by the signer below: keep that line
  # with your identity too (it is public).
  signing_key_file: %s
  signer: %s
`, name, yq(pub))
	return nil
}

// yq quotes s as a YAML double-quoted scalar. strconv.Quote's escapes are
// all valid in YAML for valid UTF-8, and every "$" is doubled so that
// config.Load's ${NAME} expansion gives the text back unchanged.
func yq(s string) string {
	return strconv.Quote(strings.ReplaceAll(s, "$", "$$"))
}

// checkText refuses values that YAML could not carry as they are. Its
// error names the variable, never the value.
func checkText(vars map[string]string, keys ...string) error {
	for _, k := range keys {
		if !utf8.ValidString(vars[k]) {
			return fmt.Errorf("%s is not valid UTF-8", k)
		}
	}
	return nil
}

// get returns vars[key], or def when the key is absent or empty.
func get(vars map[string]string, key, def string) string {
	if v := vars[key]; v != "" {
		return v
	}
	return def
}

// draftConfig builds the configuration from the variables of
// .env.production, with Mastodon's defaults for those not set.
func draftConfig(vars map[string]string, from string) (*draft, error) {
	if err := checkText(vars, "LOCAL_DOMAIN", "DB_HOST", "DB_NAME", "DB_USER", "DB_SSLMODE",
		"S3_BUCKET", "S3_ENDPOINT", "S3_HOSTNAME", "S3_REGION", "AWS_ACCESS_KEY_ID"); err != nil {
		return nil, err
	}
	d := &draft{}
	var b strings.Builder
	fmt.Fprintf(&b, `# mbackup configuration drafted by "mbackup init" from
# %s
#
# TODO: two things are left for you, marked TODO below: the storage the
# backups go to (storage) and the age recipients they are encrypted to
# (encryption). Until both are filled in, this file does not load: their
# values are empty, and mbackup reports each one as required, naming its line.
#
# Secrets are not in this file: each x_file names a 0600 file holding one
# secret, relative to this file's directory (move them together).
# Any string value may use ${NAME} to read an environment variable (write $$
# for a literal $). Unknown keys are errors. The settings not written here
# have their defaults; configs/mbackup.example.yaml lists them all.
# When done: mbackup --config THIS-FILE check
`, commentSafe(from))

	if h := vars["LOCAL_DOMAIN"]; h != "" && !strings.ContainsAny(h, "/ \t\r\n") {
		b.WriteString("\n")
		ln(&b, "host: "+yq(h), "label in manifests, metrics and Slack (LOCAL_DOMAIN); default: hostname")
	} else {
		b.WriteString("\n# host: mastodon-prod               # label in manifests, metrics and Slack; default: hostname\n")
	}

	b.WriteString(`
storage:
  # TODO: where the backups go. Create a Backblaze B2 bucket and an
  # application key restricted to it; fill in bucket and key_id, and write
  # the application key into b2.key beside this file (chmod 600).
  type: b2                          # b2 | s3 | local
  bucket: ""                        # TODO: the B2 bucket
  prefix: mastodon/                 # key prefix inside the bucket
  key_id: ""                        # TODO: the application key ID
  application_key_file: b2.key      # TODO: create it: the application key, chmod 600
  chunk_size: 16MiB                 # part size of large files; memory ~ 2 x (uploads + 1) x chunk
  concurrent_uploads: 2
  # For any S3-compatible service instead (remove the b2-only keys above):
  #   type: s3
  #   endpoint: s3.eu-central-003.backblazeb2.com
  #   region: eu-central-003
  #   bucket: example-backups
  #   prefix: mastodon/
  #   access_key_id: ...
  #   secret_access_key_file: s3.key
  # For a local directory (a mounted disk, say):
  #   type: local
  #   path: /var/backups/mbackup

encryption:
  # TODO: public age recipients only. On your own computer, not this server,
  # run "mbackup keygen -o ~/mbackup-identity.txt" and paste the age1... line
  # it prints between the brackets: recipients: ["age1..."]. The identity
  # (AGE-SECRET-KEY-...) never goes on this server; keep it offline, twice.
  recipients: []                    # TODO: ["age1..."]
  # recipients_file: recipients.txt # or a file of recipients, one a line
`)
	if err := draftSigning(&b, d); err != nil {
		return nil, err
	}

	if err := draftPostgres(&b, d, vars); err != nil {
		return nil, err
	}
	if err := draftRedis(&b, d, vars); err != nil {
		return nil, err
	}
	b.WriteString(`
# mysql:                            # Mastodon needs none; a WriteFreely blog, say
#   host: localhost
#   port: 3306
#   user: backup
#   password_file: mysql.pass
#   databases: [writefreely]
`)
	draftMedia(&b, d, vars)
	b.WriteString(`
schedule:                           # cron, UTC, for "mbackup daemon"
  backup: "0 */12 * * *"
  mirror: "30 */12 * * *"           # the media mirror
  # verify: "15 6 * * *"            # check the newest snapshot's stored hashes daily (default: never)

retention:
  keep_within: 14d                  # keep every snapshot younger than this
  keep_last: 2                      # and always the newest complete ones, whatever their age
  # keep_daily: 7                   # also the newest complete snapshot of each of the last 7 days,
  # keep_weekly: 4                  # ... of the last 4 ISO weeks
  # keep_monthly: 6                 # ... of the last 6 months (UTC)

# notify:
#   slack:
#     webhook_url_file: slack.url   # or: token_file + channel
#     on: always                    # always | failure

metrics:
  listen: 127.0.0.1:9787            # the daemon's /metrics; "" turns it off
`)
	for _, k := range []string{"REDIS_SENTINELS", "SIDEKIQ_REDIS_SENTINELS", "CACHE_REDIS_SENTINELS"} {
		if vars[k] != "" {
			d.notes = append(d.notes, k+" is set: mbackup reaches one Redis server, not Sentinel; check the url written for it")
		}
	}
	if vars["ES_ENABLED"] == "true" {
		d.notes = append(d.notes, "ES_ENABLED: the Elasticsearch index is not backed up; rebuild it after a restore with tootctl search deploy")
	}
	d.yaml = b.String()
	return d, nil
}

// draftPostgres writes the postgres section from DB_* or DATABASE_URL, as
// Mastodon's config/database.yml reads them.
func draftPostgres(b *strings.Builder, d *draft, vars map[string]string) error {
	host := get(vars, "DB_HOST", "localhost")
	port := get(vars, "DB_PORT", "5432")
	name := get(vars, "DB_NAME", "mastodon_production")
	user := get(vars, "DB_USER", "mastodon")
	pass := vars["DB_PASS"]
	sslmode := get(vars, "DB_SSLMODE", "prefer")
	src := "DB_*"
	if raw := vars["DATABASE_URL"]; raw != "" {
		// Rails merges DATABASE_URL over database.yml: what the URL says wins.
		src = "DATABASE_URL"
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || !utf8.ValidString(raw) {
			return errors.New("DATABASE_URL is not a postgres:// URL")
		}
		if h := u.Hostname(); h != "" {
			host = h
		}
		if p := u.Port(); p != "" {
			port = p
		}
		if n := strings.TrimPrefix(u.Path, "/"); n != "" {
			name = n
		}
		if u.User != nil {
			if n := u.User.Username(); n != "" {
				user = n
			}
			if p, ok := u.User.Password(); ok {
				pass = p
			}
		}
		q := u.Query()
		if s := q.Get("sslmode"); s != "" {
			sslmode = s
		}
		if h := q.Get("host"); h != "" {
			host = h // a socket directory: postgres:///db?host=/var/run/postgresql
		}
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%s: the PostgreSQL port is not a port number", src)
	}
	b.WriteString("\n")
	ln(b, "postgres:", "from "+src+" in .env.production")
	ln(b, "  host: "+yq(host), "a host name, or a socket directory such as /var/run/postgresql")
	ln(b, "  port: "+strconv.Itoa(p), "")
	ln(b, "  user: "+yq(user), "")
	if pass != "" {
		ln(b, "  password_file: "+d.addSecret("pg.pass", "PostgreSQL password", pass), "DB_PASS, chmod 600")
	} else {
		b.WriteString("  # password_file: pg.pass        # no DB_PASS: peer or trust authentication, so run mbackup as a\n" +
			"                                    # user PostgreSQL lets in (pg_dumpall --globals-only needs a superuser)\n")
	}
	ln(b, "  sslmode: "+yq(sslmode), "disable | allow | prefer | require | verify-ca | verify-full")
	ln(b, "  databases: ["+yq(name)+"]", "default: every non-template database")
	ln(b, "  globals: true", "roles and tablespaces (pg_dumpall --globals-only; needs a superuser)")
	d.found = append(d.found, fmt.Sprintf("%-11s %s port %d, database %s as %s", "PostgreSQL", host, p, name, user))
	return nil
}

// redisServer is one Redis server as Mastodon reaches it.
type redisServer struct {
	url      string // without the password
	password string
	key      string // server and database, to tell servers apart
}

// redisFrom reads the Redis settings with the given prefix ("", "SIDEKIQ_"
// or "CACHE_") as Mastodon's lib/mastodon/redis_configuration.rb does: the
// URL, else host, port, password and database. ok is false when prefix is
// not "" and nothing is set: Mastodon then uses the main server.
func redisFrom(vars map[string]string, prefix string) (r redisServer, ok bool, err error) {
	p := prefix + "REDIS_"
	if raw := vars[p+"URL"]; raw != "" {
		if !utf8.ValidString(raw) {
			return r, false, fmt.Errorf("%sURL is not valid UTF-8", p)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			return r, false, fmt.Errorf("%sURL is not a redis://, rediss:// or unix:// URL", p)
		}
		if u.User != nil {
			r.password, _ = u.User.Password()
			if n := u.User.Username(); n != "" {
				u.User = url.User(n)
			} else {
				u.User = nil
			}
		}
		if u.Scheme != "unix" && strings.Trim(u.Path, "/") == "" {
			u.Path = "/0"
		}
		r.url = u.String()
		r.key = redisKey(u)
		return r, true, nil
	}
	if prefix != "" && vars[p+"HOST"] == "" {
		return r, false, nil
	}
	host, port, db := get(vars, p+"HOST", "localhost"), get(vars, p+"PORT", "6379"), get(vars, p+"DB", "0")
	if err := checkText(vars, p+"HOST", p+"USER"); err != nil {
		return r, false, err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return r, false, fmt.Errorf("%sPORT is not a port number", p)
	}
	if n, err := strconv.Atoi(db); err != nil || n < 0 {
		return r, false, fmt.Errorf("%sDB is not a database number", p)
	}
	u := &url.URL{Scheme: "redis", Host: net.JoinHostPort(host, port), Path: "/" + db}
	if n := vars[p+"USER"]; n != "" {
		u.User = url.User(n)
	}
	r.url, r.password, r.key = u.String(), vars[p+"PASSWORD"], redisKey(u)
	return r, true, nil
}

// redisKey names the server and database of u: TLS or not, and the user,
// do not make another server.
func redisKey(u *url.URL) string {
	if u.Scheme == "unix" {
		return "unix:" + u.Path + "?" + u.Query().Get("db")
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	db := strings.Trim(u.Path, "/")
	if n, err := strconv.Atoi(db); err == nil {
		db = strconv.Itoa(n)
	}
	if db == "" {
		db = "0"
	}
	return strings.ToLower(u.Hostname()) + ":" + port + "/" + db
}

// draftRedis writes the redis list: the main server, and Sidekiq's and the
// cache's when they are another server or database. Sidekiq's holds the
// job queues and is backed up; the cache is only a cache, rebuilt on use,
// so its entry is written commented out.
func draftRedis(b *strings.Builder, d *draft, vars map[string]string) error {
	main, _, err := redisFrom(vars, "")
	if err != nil {
		return err
	}
	b.WriteString("\nredis:                              # from REDIS_* in .env.production\n")
	writeRedis(b, d, "main", "REDIS_PASSWORD", "redis.pass", main, "")
	seen := map[string]bool{main.key: true}
	for _, x := range []struct{ prefix, name string }{{"SIDEKIQ_", "sidekiq"}, {"CACHE_", "cache"}} {
		r, ok, err := redisFrom(vars, x.prefix)
		if err != nil {
			return err
		}
		if !ok || seen[r.key] {
			continue // Mastodon keeps these keys in a server already listed
		}
		seen[r.key] = true
		if x.name == "cache" {
			b.WriteString("  # CACHE_REDIS_* names another server: Rails' cache, rebuilt on use, so not\n" +
				"  # backed up. Uncomment to back it up anyway")
			if r.password != "" {
				b.WriteString(", and write its password into redis-cache.pass (chmod 600)")
			}
			b.WriteString(".\n")
			fmt.Fprintf(b, "  # - name: cache\n  #   url: %s\n", yq(r.url))
			if r.password != "" {
				b.WriteString("  #   password_file: redis-cache.pass\n")
			}
			d.found = append(d.found, fmt.Sprintf("%-11s %s (left commented out: only a cache)", "Redis cache", r.url))
			continue
		}
		writeRedis(b, d, x.name, x.prefix+"REDIS_PASSWORD", "redis-sidekiq.pass", r, "  # Sidekiq's queues and scheduled jobs (SIDEKIQ_REDIS_*)\n")
	}
	return nil
}

func writeRedis(b *strings.Builder, d *draft, name, env, file string, r redisServer, comment string) {
	b.WriteString(comment)
	ln(b, "  - name: "+name, "")
	ln(b, "    url: "+yq(r.url), "rediss:// for TLS, unix:///run/redis/redis.sock")
	if r.password != "" {
		ln(b, "    password_file: "+d.addSecret(file, "Redis "+name+" password", r.password), env+", chmod 600")
	}
	d.found = append(d.found, fmt.Sprintf("%-11s %s", "Redis "+name, r.url))
}

// draftMedia writes the media section from S3_* when S3_ENABLED is true.
func draftMedia(b *strings.Builder, d *draft, vars map[string]string) {
	if vars["S3_ENABLED"] != "true" {
		b.WriteString(`
# media: S3_ENABLED is not true, so Mastodon keeps its media on local disk
# (public/system), which mbackup does not copy: back that directory up with
# your file backups. For a media bucket:
# media:
#   source: {endpoint: ..., region: ..., bucket: ..., access_key_id: ..., secret_access_key_file: media-secret.key}
`)
		d.notes = append(d.notes, "S3_ENABLED is not true: media on local disk are not backed up by mbackup")
		return
	}
	region := get(vars, "S3_REGION", "us-east-1")
	endpoint := vars["S3_ENDPOINT"]
	if endpoint == "" {
		endpoint = get(vars, "S3_HOSTNAME", "s3."+region+".amazonaws.com")
	}
	endpoint = strings.TrimSuffix(endpoint, "/")
	bucket := vars["S3_BUCKET"]
	b.WriteString("\n")
	ln(b, "media:", "mirror of the media bucket, from S3_* in .env.production")
	ln(b, "  source:", "")
	ln(b, "    endpoint: "+yq(endpoint), "S3_ENDPOINT (or S3_HOSTNAME)")
	ln(b, "    region: "+yq(region), "S3_REGION")
	ln(b, "    bucket: "+yq(bucket), "S3_BUCKET"+todoIf(bucket == "", ": TODO, it was not set"))
	ln(b, "    access_key_id: "+yq(vars["AWS_ACCESS_KEY_ID"]), "AWS_ACCESS_KEY_ID"+todoIf(vars["AWS_ACCESS_KEY_ID"] == "", ": TODO, it was not set"))
	if s := vars["AWS_SECRET_ACCESS_KEY"]; s != "" {
		ln(b, "    secret_access_key_file: "+d.addSecret("media-secret.key", "media bucket secret key", s), "AWS_SECRET_ACCESS_KEY, chmod 600")
	} else {
		ln(b, "    secret_access_key_file: media-secret.key", "TODO: AWS_SECRET_ACCESS_KEY was not set; write the key into this file, chmod 600")
		d.notes = append(d.notes, "AWS_SECRET_ACCESS_KEY is not set: write the media bucket's secret key into media-secret.key (chmod 600)")
	}
	if bucket == "" || vars["AWS_ACCESS_KEY_ID"] == "" {
		d.notes = append(d.notes, "S3_BUCKET or AWS_ACCESS_KEY_ID is not set: fill in media.source")
	}
	b.WriteString(`  prefix: media/                    # where the mirror lives in the storage bucket
  delete: false                     # true keeps only the latest copy: deletions propagate, guarded by max_delete
  max_delete: 5%                    # refuse a run that would delete more (a count works too: 1000)
`)
	d.found = append(d.found, fmt.Sprintf("%-11s bucket %s at %s", "Media", bucket, endpoint))
}

// commentSafe makes s fit on one YAML comment line.
func commentSafe(s string) string {
	if strings.ContainsFunc(s, unicode.IsControl) || !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	return s
}

// ln writes one line of YAML, its comment (if any) aligned on column 37.
func ln(b *strings.Builder, text, comment string) {
	b.WriteString(text)
	if comment != "" {
		b.WriteString(strings.Repeat(" ", max(1, 36-utf8.RuneCountInString(text))))
		b.WriteString("# " + comment)
	}
	b.WriteString("\n")
}

func todoIf(cond bool, s string) string {
	if cond {
		return s
	}
	return ""
}
