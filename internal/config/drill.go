package config

// Drill is the drill section: the daemon's unattended restore drill
// (mbackup drill), which restores the newest complete snapshot into
// throwaway servers and checks it. It runs where the age identity is,
// never on the backup host: a configuration with a drill section and no
// postgres, redis, mysql, files or media section is a verifier's, whose
// daemon only drills (and verifies, with schedule.verify) and needs no
// recipients.
type Drill struct {
	// Schedule is when the daemon drills, a cron expression in UTC like
	// schedule's. Required.
	Schedule string `yaml:"schedule"`
	// IdentityFile is the age identity that decrypts the snapshots.
	// Required; read when a drill runs, not by Load. A relative path is
	// relative to the configuration file.
	IdentityFile string `yaml:"identity_file"`
	// Dir is where the drill makes its private working directory for the
	// throwaway servers and the staged artifacts. Default /var/tmp (not
	// /tmp, often a small tmpfs).
	Dir string `yaml:"dir"`
}

// DefaultDrillDir is the default of drill.dir.
const DefaultDrillDir = "/var/tmp"

// BacksUp reports whether c names something to back up: a postgres,
// redis, mysql or files section.
func (c *Config) BacksUp() bool {
	return c.Postgres != nil || len(c.Redis) > 0 || c.MySQL != nil || len(c.Files) > 0
}

// Verifier reports whether c is a verifier's configuration: it drills and
// backs up and mirrors nothing.
func (c *Config) Verifier() bool {
	return c.Drill != nil && !c.BacksUp() && c.Media == nil
}

func (d *Drill) validate(v *validator) {
	if d.Schedule == "" {
		v.add("drill.schedule", "required: when the daemon drills, like \"0 5 * * 0\" (weekly, UTC)")
	} else {
		validateCron(v, "drill.schedule", d.Schedule)
	}
	required(v, "drill.identity_file", d.IdentityFile != "")
	if d.Dir == "" || d.Dir[0] != '/' {
		v.add("drill.dir", "must be an absolute path, such as /var/tmp")
	}
}
