package draft

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Mastodon drafts the configuration of mbackup init from the variables of
// .env.production (from names that file in the header), with Mastodon's
// defaults for those not set: the sources (PostgreSQL, Redis, the media
// bucket) filled in, their secrets and a new signing key in secret files,
// and the storage and the recipients left as TODOs. Until those are filled
// in the configuration does not load: the TODO values are empty, which
// config.Load reports as required, on their line. Errors name the
// variable, never its value.
func Mastodon(vars map[string]string, from string) (*Draft, error) {
	if err := checkText(vars, "LOCAL_DOMAIN", "DB_HOST", "DB_NAME", "DB_USER", "DB_SSLMODE",
		"S3_BUCKET", "S3_ENDPOINT", "S3_HOSTNAME", "S3_REGION", "AWS_ACCESS_KEY_ID"); err != nil {
		return nil, err
	}
	d := &Draft{}
	b := &doc{}
	fmt.Fprintf(b, mastodonHeader, commentSafe(from))
	if h := vars["LOCAL_DOMAIN"]; h != "" && !strings.ContainsAny(h, "/ \t\r\n") {
		b.WriteString("\n")
		b.line("host: "+quote(h), "label in manifests, metrics and Slack (LOCAL_DOMAIN); default: hostname")
	} else {
		b.WriteString("\n# host: mastodon-prod               # label in manifests, metrics and Slack; default: hostname\n")
	}
	b.WriteString(mastodonStorage)
	if err := mastodonSigning(b, d); err != nil {
		return nil, err
	}
	if err := mastodonPostgres(b, d, vars); err != nil {
		return nil, err
	}
	if err := mastodonRedis(b, d, vars); err != nil {
		return nil, err
	}
	b.WriteString(mastodonMySQL)
	mastodonMedia(b, d, vars)
	if err := mastodonFiles(b, d, from); err != nil {
		return nil, err
	}
	b.WriteString(mastodonTail)
	for _, k := range []string{"REDIS_SENTINELS", "SIDEKIQ_REDIS_SENTINELS", "CACHE_REDIS_SENTINELS"} {
		if vars[k] != "" {
			d.Notes = append(d.Notes, k+" is set: mbackup reaches one Redis server, not Sentinel; check the url written for it")
		}
	}
	if vars["ES_ENABLED"] == "true" {
		d.Notes = append(d.Notes, "ES_ENABLED: the Elasticsearch index is not backed up; rebuild it after a restore with tootctl search deploy")
	}
	d.YAML = b.String()
	return d, nil
}

// checkText refuses variables that YAML could not carry as they are.
func checkText(vars map[string]string, keys ...string) error {
	for _, k := range keys {
		if err := validText(k, vars[k]); err != nil {
			return err
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

// mastodonSigning makes the signing key, kept beside the configuration
// like the secrets, and pins its public half as the signer.
func mastodonSigning(b *doc, d *Draft) error {
	priv, pub, err := signingKey()
	if err != nil {
		return err
	}
	name := d.addSecret("signing.key", "the key that signs every snapshot's manifest", strings.TrimSpace(string(priv)))
	d.Signer = pub
	fmt.Fprintf(b, mastodonSigner, name, quote(pub))
	return nil
}

// mastodonPostgres writes the postgres section from DB_* or DATABASE_URL,
// as Mastodon's config/database.yml reads them.
func mastodonPostgres(b *doc, d *Draft, vars map[string]string) error {
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
	b.line("postgres:", "from "+src+" in .env.production")
	b.line("  host: "+quote(host), "a host name, or a socket directory such as /var/run/postgresql")
	b.line("  port: "+strconv.Itoa(p), "")
	b.line("  user: "+quote(user), "")
	if pass != "" {
		b.line("  password_file: "+d.addSecret("pg.pass", "PostgreSQL password", pass), "DB_PASS, chmod 600")
	} else {
		b.WriteString(mastodonNoPGPass)
	}
	b.line("  sslmode: "+quote(sslmode), "disable | allow | prefer | require | verify-ca | verify-full")
	b.line("  databases: ["+quote(name)+"]", "default: every non-template database")
	b.line("  globals: true", "roles and tablespaces (pg_dumpall --globals-only; needs a superuser)")
	d.Found = append(d.Found, fmt.Sprintf("%-11s %s port %d, database %s as %s", "PostgreSQL", host, p, name, user))
	return nil
}

// mastodonMedia writes the media section from S3_* when S3_ENABLED is true.
func mastodonMedia(b *doc, d *Draft, vars map[string]string) {
	if vars["S3_ENABLED"] != "true" {
		b.WriteString(mastodonNoMedia)
		d.Notes = append(d.Notes, "S3_ENABLED is not true: media on local disk are not backed up by mbackup")
		return
	}
	region := get(vars, "S3_REGION", "us-east-1")
	endpoint := vars["S3_ENDPOINT"]
	if endpoint == "" {
		endpoint = get(vars, "S3_HOSTNAME", "s3."+region+".amazonaws.com")
	}
	endpoint = strings.TrimSuffix(endpoint, "/")
	bucket, keyID := vars["S3_BUCKET"], vars["AWS_ACCESS_KEY_ID"]
	b.WriteString("\n")
	b.line("media:", "mirror of the media bucket, from S3_* in .env.production")
	b.line("  source:", "")
	b.line("    endpoint: "+quote(endpoint), "S3_ENDPOINT (or S3_HOSTNAME)")
	b.line("    region: "+quote(region), "S3_REGION")
	b.line("    bucket: "+quote(bucket), "S3_BUCKET"+todoIf(bucket == "", ": TODO, it was not set"))
	b.line("    access_key_id: "+quote(keyID), "AWS_ACCESS_KEY_ID"+todoIf(keyID == "", ": TODO, it was not set"))
	if s := vars["AWS_SECRET_ACCESS_KEY"]; s != "" {
		b.line("    secret_access_key_file: "+d.addSecret("media-secret.key", "media bucket secret key", s), "AWS_SECRET_ACCESS_KEY, chmod 600")
	} else {
		b.line("    secret_access_key_file: media-secret.key", "TODO: AWS_SECRET_ACCESS_KEY was not set; write the key into this file, chmod 600")
		d.Notes = append(d.Notes, "AWS_SECRET_ACCESS_KEY is not set: write the media bucket's secret key into media-secret.key (chmod 600)")
	}
	if bucket == "" || keyID == "" {
		d.Notes = append(d.Notes, "S3_BUCKET or AWS_ACCESS_KEY_ID is not set: fill in media.source")
	}
	b.WriteString(mastodonMediaTail)
	d.Found = append(d.Found, fmt.Sprintf("%-11s bucket %s at %s", "Media", bucket, endpoint))
}

// mastodonFiles backs up the .env.production drafted from (made absolute)
// and lists the other usual paths, commented out.
func mastodonFiles(b *doc, d *Draft, from string) error {
	if err := validText("the path of the .env file", from); err != nil {
		return err
	}
	abs, err := filepath.Abs(from)
	if err != nil {
		return fmt.Errorf("the path of the .env file: %w", err)
	}
	b.WriteString("\n")
	if strings.ContainsRune(abs, 0) { // no file has such a path
		b.line("# files:", "TODO: the path of .env.production, such as /home/mastodon/live/.env.production")
		d.Notes = append(d.Notes, "the path of the .env file holds a NUL byte: add the real one to files:")
		b.WriteString(mastodonFilesMore)
		return nil
	}
	b.line("files:", "backed up as they are: one tar per entry, absolute paths")
	b.line("  - "+quote(abs), "its secrets; the manifest names the keys, never a value")
	b.WriteString(mastodonFilesMore)
	d.Found = append(d.Found, fmt.Sprintf("%-11s %s", "Files", abs))
	return nil
}
