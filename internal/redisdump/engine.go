package redisdump

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"mbackup/internal/artifact"
	"mbackup/internal/config"
	"mbackup/internal/dump"
	"mbackup/internal/engine"
	"mbackup/internal/snapshot"
)

// Engine backs up and restores the redis component: one RDB file per
// configured server.
type Engine struct{}

// Component is redis.
func (Engine) Component() artifact.Component { return artifact.Redis }

// Title is Redis.
func (Engine) Title() string { return "Redis" }

// RestoreOrder puts Redis after the databases, before the files.
func (Engine) RestoreOrder() int { return 2 }

// Jobs returns one job per configured server. Each job reaches its server
// when it runs, so an unreachable one fails only its own job.
func (Engine) Jobs(_ context.Context, cfg *config.Config) []snapshot.Job {
	var js []snapshot.Job
	for _, r := range cfg.Redis {
		c := Config{Name: r.Name, URL: r.URL, Password: r.Password.Reveal()}
		js = append(js, engine.Job(artifact.Ref{Component: artifact.Redis, Name: r.Name, Kind: artifact.RDB},
			func(ctx context.Context, w io.Writer) (dump.Info, error) { return Dump(ctx, c, w) }))
	}
	return js
}

// Scanner is nil: no client runs an RDB file.
func (Engine) Scanner(artifact.Ref) io.WriteCloser { return nil }

// Target is a Redis data directory and the RDB file name its server loads.
type Target struct {
	Dir  string // e.g. /var/lib/redis
	File string // "" means dump.rdb
}

// Component is redis.
func (t *Target) Component() artifact.Component { return artifact.Redis }

// Plan replaces the RDB file; there is no database.
func (t *Target) Plan(artifact.Ref, bool) (database, does string) {
	return "", fmt.Sprintf("replace %s; refused while a Redis server runs in %s", t.path(), t.Dir)
}

func (t *Target) path() string {
	file := t.File
	if file == "" {
		file = "dump.rdb"
	}
	return strings.TrimSuffix(t.Dir, "/") + "/" + file
}

// Check refuses a data directory in use or holding appendonly files.
func (t *Target) Check(context.Context, artifact.Ref, string, bool) error { return CheckDataDir(t.Dir) }

// Apply writes the RDB file (see RestoreRDBFile), telling opt.Progress
// the bytes copied.
func (t *Target) Apply(_ context.Context, s engine.Staged, opt engine.Options) (engine.Outcome, error) {
	var out engine.Outcome
	f, err := os.Open(s.File)
	if err != nil {
		return out, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return out, err
	}
	if err := RestoreRDBFile(engine.ProgressReader(f, fi.Size(), opt.Progress), t.Dir, t.File); err != nil {
		return out, err
	}
	out.Restored = true
	out.Notes = AfterSteps(s.Artifact.Name)
	return out, nil
}

// AfterSteps are what is left to do once the RDB of the Redis named name
// is in place.
func AfterSteps(name string) []string {
	return []string{
		fmt.Sprintf("redis/%s: start the Redis server now (systemctl start redis-server) to load it", name),
		fmt.Sprintf("redis/%s: the RDB holds Sidekiq's queues (Mastodon's, if this is its Redis) as they were at backup time: "+
			"when Sidekiq starts it runs those jobs again, some of which had run already (deliveries, mails, scheduled posts). "+
			"To drop them, start Redis but not Sidekiq and clear them first (the Sidekiq web UI, or redis-cli DEL on the queue: keys "+
			"and the schedule and retry sets)", name),
	}
}

// TargetFlags registers restore's --redis-* flags: the data directory of a
// stopped server and its RDB file's name.
func (Engine) TargetFlags(fs *flag.FlagSet) func(engine.Asker) (engine.Target, error) {
	var flags Target
	fs.StringVar(&flags.Dir, "redis-dir", "/var/lib/redis", "Redis data `directory` (its \"dir\"); the server there must be stopped")
	fs.StringVar(&flags.File, "redis-file", "dump.rdb", "Redis RDB `file` name (its \"dbfilename\")")
	return func(ask engine.Asker) (engine.Target, error) {
		t := flags
		if ask == nil {
			return &t, nil
		}
		ask.Say("\nRedis: the RDB file is written into the data directory of a stopped server, which loads it when it starts.")
		var err error
		if t.Dir, err = ask.Line("  data directory (\"dir\" in redis.conf)", t.Dir); err != nil {
			return nil, err
		}
		t.File, err = ask.Line("  file name (\"dbfilename\")", t.File)
		return &t, err
	}
}
