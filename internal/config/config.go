// Package config loads and validates the mbackup YAML configuration.
//
// Loading goes: read the file, parse it, expand ${NAME} references inside
// string values, decode it strictly over the defaults of [Default], read the
// *_file secrets and the recipients file, then [Config.Validate].
//
// Invariants:
//
//   - Loading has no side effects: nothing is created, written or contacted.
//     It only reads the configuration file, the secret files it names and the
//     environment.
//   - Unknown keys, wrong types and duplicate keys are errors naming the file,
//     line and key. Problems are reported as "FILE:LINE: YAML.PATH: what is
//     wrong" (see [Problem]). A YAML syntax or decoding error (unknown key,
//     wrong type) stops loading at the first one; every undefined ${NAME} is
//     reported at once; the problems of the secret files, the recipients file
//     and [Config.Validate] are all reported together, joined with
//     errors.Join and sorted by line.
//   - ${NAME} is expanded in string values only, never in keys or comments.
//     An undefined variable is an error; "$$" stands for a literal "$"; any
//     other "$" is kept as it is. An integer setting may be a reference too
//     (port: ${PGPORT}); a boolean must be written out.
//   - Secrets are held in [Secret], which prints as "[redacted]" through fmt,
//     encoding/json, encoding.TextMarshaler and log/slog. Neither errors nor
//     warnings ever contain a secret value or the contents of a secret file.
//   - Any secret x may instead be given as x_file, a path whose contents
//     (without the trailing newline) are the secret. Setting both is an error;
//     a secret file that every user may read is a warning, and so is a
//     secret written in a configuration file that every user may read.
//   - Every relative path in the file (storage.path, the x_file secrets,
//     recipients_file, signing_key_file, drill.identity_file) is taken
//     relative to the directory of the configuration file, never to the
//     working directory: Load makes them absolute.
//   - The backup host holds age recipients only: an age identity given as a
//     recipient is refused.
//   - Optional sections (postgres, redis, mysql, media, files, notify) that are
//     absent from the file are nil (or empty) in [Config]: not configured.
//   - A storage setting's default and bounds are those of the store that
//     reads it: the b2 and s3 packages own them and this package refers to
//     them (the stores do not import config), so a file that leaves a
//     setting out and a store built in code with a zero field behave alike.
package config

import (
	"time"

	"mbackup/internal/mediasync"
	"mbackup/internal/storage/b2"
	"mbackup/internal/storage/s3"
)

// Config is the whole configuration file.
type Config struct {
	// Host labels this instance in manifests, metrics and Slack messages:
	// no spaces or slashes. Default (also when empty): the machine's host
	// name.
	Host string `yaml:"host"`
	// Storage is where snapshots and the media mirror are written.
	Storage Storage `yaml:"storage"`
	// Encryption lists the age recipients every artifact is encrypted to.
	Encryption Encryption `yaml:"encryption"`
	// Postgres configures pg_dump and pg_dumpall; nil when absent.
	Postgres *Postgres `yaml:"postgres"`
	// Redis lists the Redis servers to snapshot; empty when absent.
	Redis []Redis `yaml:"redis"`
	// MySQL configures mysqldump or mariadb-dump; nil when absent.
	MySQL *MySQL `yaml:"mysql"`
	// Media configures the mirror of the media bucket; nil when absent.
	Media *Media `yaml:"media"`
	// Files lists the files and directories on this host backed up as they
	// are (the files component, one artifact per entry), such as
	// /home/mastodon/live/.env.production or /etc/letsencrypt: absolute
	// paths, cleaned by Load, none inside another. Empty when absent.
	Files []string `yaml:"files"`
	// Schedule holds the daemon's cron schedules.
	Schedule Schedule `yaml:"schedule"`
	// Retention says which snapshots prune keeps.
	Retention Retention `yaml:"retention"`
	// Notify configures notifications; nil when absent.
	Notify *Notify `yaml:"notify"`
	// Metrics configures the Prometheus endpoint of the daemon.
	Metrics Metrics `yaml:"metrics"`
	// Drill configures the daemon's restore drill; nil when absent.
	Drill *Drill `yaml:"drill"`
	// DumpStallTimeout kills a dump (pg_dump, redis-cli, mariadb-dump) that
	// writes nothing for this long while nothing holds it back: a stopped
	// or hung producer. Default 10m (a Redis without diskless replication
	// writes its RDB to disk before sending any of it).
	DumpStallTimeout Duration `yaml:"dump_stall_timeout"`

	src *source // where each YAML path was found; nil for a Config built in code
}

// Storage types accepted in storage.type.
const (
	StorageB2    = "b2"
	StorageS3    = "s3"
	StorageLocal = "local"
)

// Storage is the storage section. Which fields apply depends on Type; a
// field of another type written in the file is an error.
type Storage struct {
	// Type is b2 (Backblaze B2 native API), s3 (any S3-compatible service) or
	// local (a directory). Required.
	Type string `yaml:"type"`
	// Bucket is the bucket name (b2, s3). Required for b2 and s3.
	Bucket string `yaml:"bucket"`
	// Prefix is prepended to every key inside the bucket (b2, s3), such as
	// "mastodon/". Optional.
	Prefix string `yaml:"prefix"`

	// KeyID is the B2 application key ID (b2). Required for b2.
	KeyID string `yaml:"key_id"`
	// ApplicationKey is the B2 application key (b2); or use
	// application_key_file. Required for b2.
	ApplicationKey Secret `yaml:"application_key"`
	// ApplicationKeyFile is a file holding the B2 application key (b2).
	ApplicationKeyFile string `yaml:"application_key_file"`
	// ChunkSize is the size of each part of a B2 large file (b2): "16MiB",
	// "100MB" or a number of bytes. At least 5MB. Default 16MiB. Memory used
	// by an upload is about 2 × (concurrent_uploads + 1) × chunk_size.
	ChunkSize Size `yaml:"chunk_size"`

	// Endpoint is the S3 endpoint (s3), as host[:port] for HTTPS or as
	// http://host:port or https://host:port. Required for s3. For b2 it
	// replaces the API URL https://api.backblazeb2.com (a B2-compatible
	// test server); plain http only on loopback.
	Endpoint string `yaml:"endpoint"`
	// Region is the S3 region (s3), such as "us-east-1". Optional.
	Region string `yaml:"region"`
	// AccessKeyID is the S3 access key ID (s3). Required for s3.
	AccessKeyID string `yaml:"access_key_id"`
	// SecretAccessKey is the S3 secret access key (s3); or use
	// secret_access_key_file. Required for s3.
	SecretAccessKey Secret `yaml:"secret_access_key"`
	// SecretAccessKeyFile is a file holding the S3 secret access key (s3).
	SecretAccessKeyFile string `yaml:"secret_access_key_file"`
	// PartSize is the size of each part of a multipart upload (s3), like
	// chunk_size. At least 5MiB. Default 16MiB.
	PartSize Size `yaml:"part_size"`

	// ConcurrentUploads is how many parts of one object are uploaded at once
	// (b2; the s3 store sends parts one at a time and ignores it). Default 2.
	ConcurrentUploads int `yaml:"concurrent_uploads"`
	// CallTimeout is the deadline of each single API call (b2, s3).
	// Default 2m.
	CallTimeout Duration `yaml:"call_timeout"`
	// StallTimeout fails an upload that made no progress for this long
	// (b2, s3). Default 2m.
	StallTimeout Duration `yaml:"stall_timeout"`
	// UploadTimeout is the deadline of a whole object upload (b2; the s3
	// store bounds a silent connection with stall_timeout instead).
	// Default 6h.
	UploadTimeout Duration `yaml:"upload_timeout"`

	// Path is the directory snapshots are written to (local). Default (also
	// when empty) /var/backups/mbackup. A relative path is relative to the
	// directory of the configuration file, as every path in it; Load makes
	// it absolute. Loading never creates it.
	Path string `yaml:"path"`

	// Lock keeps every object the backup host writes undeletable for a
	// number of days (B2 Object Lock; b2 only for now); nil when absent.
	Lock *Lock `yaml:"lock"`
}

// Encryption is the encryption section. At least one recipient is required.
type Encryption struct {
	// Recipients are age recipients ("age1...", as printed by mbackup keygen
	// or age-keygen -y). Never an identity (AGE-SECRET-KEY-...).
	Recipients []string `yaml:"recipients"`
	// RecipientsFile is a file of recipients, one a line, as read by
	// "age -R": blank lines and lines starting with # are ignored.
	RecipientsFile string `yaml:"recipients_file"`
	// PostQuantum allows post-quantum "age1pq1..." recipients. Off by
	// default because age before v1.3 (Debian 12 ships 1.1.1) cannot decrypt
	// files made for them.
	PostQuantum bool `yaml:"post_quantum"`
	// SigningKeyFile is the backup host's signing key (OpenSSH Ed25519,
	// made by "mbackup keygen --signing"): every manifest is signed with
	// it. Read when a backup runs, not by Load, so a configuration copied
	// to a restore machine without it still loads.
	SigningKeyFile string `yaml:"signing_key_file"`
	// Signer is the public key a restore and verify trust
	// ("ssh-ed25519 AAAA..."): a snapshot not signed by it is refused.
	// Without it, the public half of SigningKeyFile is trusted.
	Signer string `yaml:"signer"`

	// All is every recipient, from Recipients then RecipientsFile, without
	// duplicates. Filled by Load; [Encryption.AgeRecipients] parses it.
	All []string `yaml:"-"`
}

// Postgres is the postgres section: how to reach the server with pg_dump.
type Postgres struct {
	// Host is a host name, an IP address or a Unix socket directory such as
	// /var/run/postgresql. Default localhost.
	Host string `yaml:"host"`
	// Port is the server port. Default 5432.
	Port int `yaml:"port"`
	// User is the role to connect as. Default: libpq's default, the name of
	// the operating system user mbackup runs as.
	User string `yaml:"user"`
	// Password is the role's password; or use password_file. Optional
	// (peer or certificate authentication need none). Passed to pg_dump in
	// PGPASSWORD, never on the command line.
	Password Secret `yaml:"password"`
	// PasswordFile is a file holding the password.
	PasswordFile string `yaml:"password_file"`
	// SSLMode is libpq's sslmode: disable, allow, prefer, require,
	// verify-ca or verify-full. Default prefer.
	SSLMode string `yaml:"sslmode"`
	// Databases to dump, each with pg_dump. Default (empty): every database
	// that is not a template.
	Databases []string `yaml:"databases"`
	// Globals dumps roles and tablespaces with pg_dumpall --globals-only.
	// Default true.
	Globals bool `yaml:"globals"`
}

// Redis is one entry of the redis list.
type Redis struct {
	// Name identifies the server in the snapshot (redis/<name>.rdb.zst.age):
	// letters, digits, '.', '_' and '-'. Required and unique.
	Name string `yaml:"name"`
	// URL is redis://host:port/db, rediss://host:port/db for TLS, or
	// unix:///path/to/redis.sock. A password in the URL is moved to Password
	// by Load, so the URL never holds it. Required.
	URL string `yaml:"url"`
	// Password is the AUTH password; or use password_file. Optional. Passed
	// to redis-cli in REDISCLI_AUTH, never on the command line.
	Password Secret `yaml:"password"`
	// PasswordFile is a file holding the password.
	PasswordFile string `yaml:"password_file"`
}

// MySQL is the mysql section, for MySQL or MariaDB (a WriteFreely blog, say).
type MySQL struct {
	// Host is a host name or IP address. Default localhost.
	Host string `yaml:"host"`
	// Port is the server port. Default 3306.
	Port int `yaml:"port"`
	// User is the account to connect as. Default: the client's default.
	User string `yaml:"user"`
	// Password is the account's password; or use password_file. Passed
	// to the client in a 0600 defaults file, never on the command line.
	Password Secret `yaml:"password"`
	// PasswordFile is a file holding the password.
	PasswordFile string `yaml:"password_file"`
	// Databases to dump. Default (empty): every database that is not a
	// system database.
	Databases []string `yaml:"databases"`
}

// Media is the media section: the incremental mirror of Mastodon's media
// bucket into the storage.
type Media struct {
	// Source is the media bucket (DigitalOcean Spaces, say). Required.
	Source S3Source `yaml:"source"`
	// Prefix is where the mirror lives inside the storage, under
	// storage.prefix. Default "media/".
	Prefix string `yaml:"prefix"`
	// Delete propagates deletions from the source to the mirror, keeping
	// only the latest copy of the bucket. Default false: the mirror only
	// grows.
	Delete bool `yaml:"delete"`
	// MaxDelete refuses a mirror run that would delete more objects than
	// this: a count ("1000") or a share of the mirrored objects ("5%").
	// Default 5%.
	MaxDelete DeleteLimit `yaml:"max_delete"`
	// StallTimeout fails the copy of an object whose source sent nothing
	// for this long while it was awaited (a GET, a body read, a page of the
	// listing). Default 2m; at least 1s.
	StallTimeout Duration `yaml:"stall_timeout"`
	// Include and Exclude select the source keys mirrored (see media.go).
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
	// MaxRequestsPerSecond limits the requests to the source, and those to
	// the storage, each (see media.go). 0: DefaultMediaRequestsPerSecond.
	MaxRequestsPerSecond int `yaml:"max_requests_per_second"`
}

// S3Source is an S3-compatible bucket read by the media mirror.
type S3Source struct {
	// Endpoint is host[:port] for HTTPS, or an http:// or https:// URL,
	// such as nyc3.digitaloceanspaces.com. Required.
	Endpoint string `yaml:"endpoint"`
	// Region is the bucket's region, such as nyc3. Optional.
	Region string `yaml:"region"`
	// Bucket is the media bucket (S3_BUCKET in .env.production). Required.
	Bucket string `yaml:"bucket"`
	// AccessKeyID is the access key ID. Required.
	AccessKeyID string `yaml:"access_key_id"`
	// SecretAccessKey is the secret access key; or use
	// secret_access_key_file. Required.
	SecretAccessKey Secret `yaml:"secret_access_key"`
	// SecretAccessKeyFile is a file holding the secret access key.
	SecretAccessKeyFile string `yaml:"secret_access_key_file"`
}

// Schedule is the schedule section: standard five-field cron expressions
// (minute hour day-of-month month day-of-week), in UTC.
type Schedule struct {
	// Backup is when the daemon takes a snapshot. Default "0 */12 * * *".
	Backup string `yaml:"backup"`
	// Mirror is when the daemon mirrors the media bucket, if media is
	// configured. Default "30 */12 * * *".
	Mirror string `yaml:"mirror"`
	// Verify is when the daemon verifies the newest snapshot's stored
	// hashes (mbackup verify, no key needed); "" (the default) never.
	Verify string `yaml:"verify"`
}

// Retention is the retention section. A complete snapshot is kept when it
// is among the newest KeepLast or younger than KeepWithin.
type Retention struct {
	// KeepWithin keeps every snapshot younger than this, in days, weeks
	// or years of 365 days: "14d", "2w", "1y". A unit below a day (h, m,
	// s) is refused: "6m" would be six minutes, not six months. Default 14d.
	KeepWithin Duration `yaml:"keep_within"`
	// KeepLast keeps the newest complete snapshots whatever their age, so
	// that failed runs never prune the last good backup. At least 1.
	// Default 2.
	KeepLast int `yaml:"keep_last"`
	// KeepDaily, KeepWeekly and KeepMonthly also keep the newest complete
	// snapshot of each of the last N days, ISO weeks and months (UTC),
	// beyond KeepWithin. Default 0: none.
	KeepDaily   int `yaml:"keep_daily"`
	KeepWeekly  int `yaml:"keep_weekly"`
	KeepMonthly int `yaml:"keep_monthly"`
	// ShrinkThreshold flags an artifact below this share of its size in
	// the previous complete snapshot, and holds that snapshot until the
	// drop is accepted: "50%" (the default), "off". See internal/shrink.
	ShrinkThreshold Threshold `yaml:"shrink_threshold"`
}

// Notify is the notify section.
type Notify struct {
	// Slack posts run outcomes to Slack; nil when absent.
	Slack *Slack `yaml:"slack"`
	// Ping sends dead-man pings per task (ping.go); nil when absent.
	Ping *Ping `yaml:"ping"`
}

// Values accepted in notify.slack.on.
const (
	NotifyAlways  = "always"
	NotifyFailure = "failure"
)

// Slack posts through an incoming webhook (webhook_url) or a bot token with
// chat:write (token and channel): exactly one of the two.
type Slack struct {
	// WebhookURL is an incoming webhook URL; or use webhook_url_file.
	WebhookURL Secret `yaml:"webhook_url"`
	// WebhookURLFile is a file holding the webhook URL.
	WebhookURLFile string `yaml:"webhook_url_file"`
	// Token is a bot token (xoxb-...); or use token_file.
	Token Secret `yaml:"token"`
	// TokenFile is a file holding the bot token.
	TokenFile string `yaml:"token_file"`
	// Channel is the channel ID or name to post to with Token.
	Channel string `yaml:"channel"`
	// On is "always" (every outcome) or "failure" (failures and partial
	// snapshots only). Default always.
	On string `yaml:"on"`
}

// Metrics is the metrics section.
type Metrics struct {
	// Listen is the host:port the daemon serves /metrics on. Default
	// 127.0.0.1:9787. An empty string turns the endpoint off.
	Listen string `yaml:"listen"`
}

// Default values of the settings that have one. The storage settings take
// the defaults of the store packages, which own them (a store built in code
// with zero fields gets the same ones): call_timeout and stall_timeout,
// which the s3 store reads too, follow b2.
const (
	DefaultChunkSize         = b2.DefaultChunkSize
	DefaultPartSize          = s3.DefaultPartSize
	DefaultConcurrentUploads = b2.DefaultConcurrentUploads
	DefaultCallTimeout       = b2.DefaultCallTimeout
	DefaultStallTimeout      = b2.DefaultStallTimeout
	DefaultUploadTimeout     = b2.DefaultUploadTimeout
	DefaultMediaStallTimeout = mediasync.DefaultStallTimeout
	DefaultLocalPath         = "/var/backups/mbackup"
	DefaultBackupSchedule    = "0 */12 * * *"
	DefaultMirrorSchedule    = "30 */12 * * *"
	DefaultKeepWithin        = 14 * 24 * time.Hour
	DefaultKeepLast          = 2
	DefaultMetricsListen     = "127.0.0.1:9787"
	DefaultDumpStallTimeout  = 10 * time.Minute
)

// Default returns a Config holding every default. The optional sections
// are nil: not configured.
func Default() *Config {
	return &Config{
		Storage: Storage{
			ChunkSize:         DefaultChunkSize,
			PartSize:          DefaultPartSize,
			ConcurrentUploads: DefaultConcurrentUploads,
			CallTimeout:       Duration(DefaultCallTimeout),
			StallTimeout:      Duration(DefaultStallTimeout),
			UploadTimeout:     Duration(DefaultUploadTimeout),
		},
		Schedule: Schedule{Backup: DefaultBackupSchedule, Mirror: DefaultMirrorSchedule},
		Retention: Retention{
			KeepWithin: Duration(DefaultKeepWithin),
			KeepLast:   DefaultKeepLast,

			ShrinkThreshold: DefaultShrinkThreshold,
		},
		Metrics:          Metrics{Listen: DefaultMetricsListen},
		DumpStallTimeout: Duration(DefaultDumpStallTimeout),
	}
}

// decodeBase is Default with every optional section allocated with its
// defaults, for the decoder to fill; Load sets the sections absent from the
// file back to nil.
func decodeBase() *Config {
	c := Default()
	c.Postgres = &Postgres{Host: "localhost", Port: 5432, SSLMode: "prefer", Globals: true}
	c.MySQL = &MySQL{Host: "localhost", Port: 3306}
	c.Media = &Media{Prefix: "media/", MaxDelete: DeleteLimit{Percent: 5}, StallTimeout: Duration(DefaultMediaStallTimeout)}
	c.Notify = &Notify{Slack: &Slack{On: NotifyAlways}, Ping: &Ping{Timeout: Duration(DefaultPingTimeout)}}
	c.Drill = &Drill{Dir: DefaultDrillDir}
	return c
}
