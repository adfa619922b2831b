package draft

// The fixed text of the configuration Mastodon drafts, in the order it is
// written.

// mastodonHeader takes the .env file it was drafted from.
const mastodonHeader = `# mbackup configuration drafted by "mbackup init" from
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
`

const mastodonStorage = `
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
  # Object Lock (B2 or S3): every object stays undeletable for days, so that
  # whoever takes this host cannot erase the backups. The bucket needs file
  # lock (b2 bucket create --file-lock-enabled); mbackup check says what is
  # missing. Trade-off: compliance cannot be shortened by anyone, Backblaze
  # included; governance can be, by a key with bypassGovernance.
  # days: at least retention.keep_within plus one backup interval (here
  # 14d + 12h, so 15).
  # lock: {mode: governance, days: 15}
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
`

// mastodonSigner takes the signing key's file and the quoted signer.
const mastodonSigner = `  # Every manifest is signed with this key, made by init. Restore and
  # verify trust only snapshots signed by the signer below: keep that line
  # with your identity too (it is public).
  signing_key_file: %s
  signer: %s
`

const mastodonNoPGPass = "  # password_file: pg.pass        # no DB_PASS: peer or trust authentication, so run mbackup as a\n" +
	"                                    # user PostgreSQL lets in (pg_dumpall --globals-only needs a superuser)\n"

const mastodonMySQL = `
# mysql:                            # Mastodon needs none; a WriteFreely blog, say
#   host: localhost
#   port: 3306
#   user: backup
#   password_file: mysql.pass
#   databases: [writefreely]
`

const mastodonNoMedia = `
# media: S3_ENABLED is not true, so Mastodon keeps its media on local disk
# (public/system), which mbackup does not copy: back that directory up with
# your file backups. For a media bucket:
# media:
#   source: {endpoint: ..., region: ..., bucket: ..., access_key_id: ..., secret_access_key_file: media-secret.key}
`

const mastodonMediaTail = `  prefix: media/                    # where the mirror lives in the storage bucket
  delete: false                     # true keeps only the latest copy: deletions propagate, guarded by max_delete
  max_delete: 5%                    # refuse a run that would delete more (a count works too: 1000)
  # cache/ holds Mastodon's copies of other servers' media, fetched again on
  # demand: often most of the bucket, and not needed to restore. To mirror
  # it too, remove it from exclude (the next run copies it).
  exclude: [cache/]
  max_requests_per_second: 150      # to the bucket, and to the storage: under Spaces' and B2's limits
`

const mastodonFilesMore = `  # The usual others (globs are not expanded: one line per file). The
  # service user needs read access to each: group read, or
  # setfacl -R -m u:USER:rX PATH; "mbackup check" names what it cannot read.
  # - /etc/nginx/sites-available/mastodon
  # - /etc/letsencrypt
  # - /etc/systemd/system/mastodon-web.service
  # - /etc/systemd/system/mastodon-sidekiq.service
  # - /etc/systemd/system/mastodon-streaming.service
`

const mastodonTail = `
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
`
