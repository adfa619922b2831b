package config

import (
	"time"

	"mbackup/internal/ping"
)

// Ping is notify.ping: a dead-man ping URL per task, in the healthchecks.io
// convention (URL/start, URL, URL/fail). Each URL is a secret: whoever has
// it can ping, so it is redacted like a password and may be given as
// x_file. A task without a URL is not pinged.
type Ping struct {
	// Backup is pinged by each backup run; or use backup_file.
	Backup     Secret `yaml:"backup"`
	BackupFile string `yaml:"backup_file"`
	// Mirror is pinged by each media mirror run; or use mirror_file.
	Mirror     Secret `yaml:"mirror"`
	MirrorFile string `yaml:"mirror_file"`
	// Prune is pinged by each prune after a backup; or use prune_file.
	Prune     Secret `yaml:"prune"`
	PruneFile string `yaml:"prune_file"`
	// Drill is pinged by each restore drill; or use drill_file.
	Drill     Secret `yaml:"drill"`
	DrillFile string `yaml:"drill_file"`
	// Verify is pinged by each scheduled verify; or use verify_file.
	Verify     Secret `yaml:"verify"`
	VerifyFile string `yaml:"verify_file"`
	// Timeout bounds each ping, its one retry included. Default 10s;
	// between 1s and 60s.
	Timeout Duration `yaml:"timeout"`
}

// Bounds of notify.ping.timeout.
const (
	DefaultPingTimeout = ping.DefaultTimeout
	MinPingTimeout     = time.Second
	MaxPingTimeout     = time.Minute
)

// pingTask is one task's URL and its x_file.
type pingTask struct {
	task string
	url  *Secret
	file *string
}

func (p *Ping) tasks() []pingTask {
	return []pingTask{
		{"backup", &p.Backup, &p.BackupFile},
		{"mirror", &p.Mirror, &p.MirrorFile},
		{"prune", &p.Prune, &p.PruneFile},
		{"drill", &p.Drill, &p.DrillFile},
		{"verify", &p.Verify, &p.VerifyFile},
	}
}

// URLs maps each task that has a ping URL to it.
func (p *Ping) URLs() map[string]Secret {
	urls := map[string]Secret{}
	for _, t := range p.tasks() {
		if t.url.IsSet() {
			urls[t.task] = *t.url
		}
	}
	return urls
}

// pingSecretRefs lists the ping URLs as secrets, for the x_file reading.
func (c *Config) pingSecretRefs() []secretRef {
	if c.Notify == nil || c.Notify.Ping == nil {
		return nil
	}
	var refs []secretRef
	for _, t := range c.Notify.Ping.tasks() {
		refs = append(refs, secretRef{"notify.ping." + t.task, t.url, t.file})
	}
	return refs
}

// validate checks each URL (never quoting it: it is a secret) and the
// timeout.
func (p *Ping) validate(v *validator) {
	for _, t := range p.tasks() {
		if !t.url.IsSet() {
			continue
		}
		if _, err := ping.Parse(t.url.Reveal()); err != nil {
			path := "notify.ping." + t.task
			if *t.file != "" {
				path += "_file" // the line that names the file
			}
			v.add(path, "%v", err)
		}
	}
	if p.Timeout < Duration(MinPingTimeout) || p.Timeout > Duration(MaxPingTimeout) {
		v.add("notify.ping.timeout", "must be between 1s and 60s")
	}
}
