package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"mbackup/internal/config"
	"mbackup/internal/mediasync"
	"mbackup/internal/storage"
	"mbackup/internal/task"
)

// mirrorFlags are mirror's options.
type mirrorFlags struct {
	dryRun, reverse, notify bool
	workers                 int
	toEndpoint, toBucket    string
	toRegion, toACL         string
	textfile                string
}

func runMirror(ctx context.Context, e *env, args []string) error {
	var f mirrorFlags
	fs := e.flagSet("mirror")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the plan (copies, deletions, skipped keys); change nothing")
	fs.IntVar(&f.workers, "workers", 8, "`N` objects copied at once")
	fs.BoolVar(&f.reverse, "reverse", false, "the way back: copy the mirror into the bucket given by --to-* (credentials from $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&f.toEndpoint, "to-endpoint", "", "with --reverse: the target S3 `endpoint` (host[:port] for HTTPS, or an http(s):// URL)")
	fs.StringVar(&f.toBucket, "to-bucket", "", "with --reverse: the target `bucket`")
	fs.StringVar(&f.toRegion, "to-region", "", "with --reverse: the target `region`")
	fs.StringVar(&f.toACL, "to-acl", "", "with --reverse: canned `ACL` of every object, e.g. public-read for a bucket served to browsers")
	fs.BoolVar(&f.notify, "notify", true, "post the outcome to Slack when notify.slack is configured")
	fs.StringVar(&f.textfile, "metrics-textfile", "", "write the run's metrics to `FILE` for node_exporter's textfile collector")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("mirror: unexpected argument %q", fs.Arg(0))
	}
	if f.reverse && (f.toEndpoint == "" || f.toBucket == "") {
		return usagef("mirror: --reverse needs --to-endpoint and --to-bucket")
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	if cfg.Media == nil {
		return &configError{errors.New("mirror: no media section in the configuration: nothing to mirror")}
	}
	if f.reverse {
		return withExisting(ctx, cfg.Storage, func(s storage.Store) error { return reverseMirror(ctx, e, cfg, s, f) })
	}
	l, err := lockStore(cfg.Storage, "mbackup mirror")
	if err != nil {
		return err
	}
	defer l.Release()
	return withStore(ctx, cfg.Storage, func(s storage.Store) error {
		started := time.Now()
		res, err := mirrorOnce(ctx, e, cfg, s, f.dryRun, f.workers)
		printMirror(e.stdout, res, f.dryRun, "source")
		if f.dryRun {
			if err == nil {
				fmt.Fprintln(e.stdout, mirrorEstimate(res, cfg.Media.RequestsPerSecond()))
			}
			return err
		}
		r := task.Outcome{Task: task.Mirror, Started: started, Err: err, Summary: mirrorSummary(res, false), Mirror: &res}
		return errors.Join(err, reportRun(ctx, e, cfg, s, r, f.notify, f.textfile))
	})
}

// mirrorOnce runs one incremental mirror of cfg's media bucket into s.
func mirrorOnce(ctx context.Context, e *env, cfg *config.Config, s storage.Store, dryRun bool, workers int) (mediasync.Result, error) {
	m := cfg.Media
	rps := float64(m.RequestsPerSecond())
	sl := mediasync.NewLimiter(rps)
	client, err := limitedSourceClient(m.Source.Endpoint, m.Source.Region, m.Source.AccessKeyID, m.Source.SecretAccessKey.Reveal(), sl)
	if err != nil {
		return mediasync.Result{}, err
	}
	mirrored, err := mediasync.MirroredCount(ctx, s, m.Prefix)
	if err != nil {
		return mediasync.Result{}, fmt.Errorf("mirror: %w", err)
	}
	o := mediasync.Options{
		Source: mediasync.Source{Client: client, Bucket: m.Source.Bucket}, Store: s, Prefix: m.Prefix,
		Workers: workers, Delete: m.Delete, MaxDelete: m.MaxDelete.Max(mirrored), DryRun: dryRun,
		StallTimeout: m.StallTimeout.Std(), Log: prefixLines{w: e.stdout, prefix: "  "},
		Include: m.Include, Exclude: m.Exclude, StoreLimiter: mediasync.NewLimiter(rps), SourceLimiter: sl,
	}
	if t := e.terminal(); t != nil { // the progress line under the copy lines, one writer for both
		o.Log = prefixLines{w: t.Writer(e.stdout), prefix: "  "}
		o.Progress = func(c mediasync.Counts) {
			t.Show(fmt.Sprintf("  listed %d, copied %d (%s), unchanged %d, failed %d", c.Listed, c.Copied, humanBytes(c.CopiedBytes), c.Unchanged, c.Failed))
		}
		defer t.Clear()
	}
	res, err := mediasync.Mirror(ctx, o)
	if err != nil {
		err = fmt.Errorf("mirror: %w", err)
	}
	return res, err
}

// limitedSourceClient connects to an S3 bucket, plain http only when
// asked, with its requests limited by l (nil: not limited).
func limitedSourceClient(endpoint, region, keyID, secret string, l *mediasync.Limiter) (*minio.Client, error) {
	host, secure, err := config.ParseEndpoint(endpoint)
	if err != nil {
		return nil, &configError{err}
	}
	return mediasync.NewLimitedSourceClient(host, secure, region, keyID, secret, l)
}

// reverseMirror copies the mirror into the bucket of f's --to-* flags,
// with media.max_requests_per_second on both sides and media.include and
// exclude as in the mirror.
func reverseMirror(ctx context.Context, e *env, cfg *config.Config, s storage.Store, f mirrorFlags) error {
	m := cfg.Media
	rps := float64(m.RequestsPerSecond())
	tl := mediasync.NewLimiter(rps)
	client, err := limitedSourceClient(f.toEndpoint, f.toRegion, os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), tl)
	if err != nil {
		return err
	}
	res, err := mediasync.Restore(ctx, mediasync.RestoreOptions{
		Store: s, Prefix: m.Prefix, Target: mediasync.Source{Client: client, Bucket: f.toBucket},
		ACL: f.toACL, Workers: f.workers, DryRun: f.dryRun, StallTimeout: m.StallTimeout.Std(),
		Log:     prefixLines{w: e.stdout, prefix: "  "},
		Include: m.Include, Exclude: m.Exclude, StoreLimiter: mediasync.NewLimiter(rps), TargetLimiter: tl,
	})
	printMirror(e.stdout, res, f.dryRun, "target")
	if err != nil {
		return fmt.Errorf("mirror --reverse: %w", err)
	}
	return nil
}

// printMirror prints the summary and the skipped and failed keys; side
// names the bucket ("source", or "target" for --reverse).
func printMirror(w io.Writer, r mediasync.Result, dryRun bool, side string) {
	fmt.Fprintln(w, transferSummary(r, dryRun, side))
	for _, k := range r.SkippedKeys {
		fmt.Fprintf(w, "  skipped (the store cannot hold this key verbatim): %q\n", k)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  failed %s: %v\n", f.Key, f.Err)
	}
}

// mirrorSummary is one line: "copied 12 objects (3.4 MiB), 100000
// unchanged, deleted 2, skipped 1, failed 0 in 5.2s", and how the source
// and the store throttled the run when they did.
func mirrorSummary(r mediasync.Result, dryRun bool) string {
	return transferSummary(r, dryRun, "source")
}

// transferSummary is mirrorSummary with the bucket named side.
func transferSummary(r mediasync.Result, dryRun bool, side string) string {
	verb := "copied"
	if dryRun {
		verb = "would copy"
	}
	s := fmt.Sprintf("%s %d objects (%s), %d unchanged, deleted %d, skipped %d, failed %d, of %d listed, in %s",
		verb, r.Copied, humanBytes(r.CopiedBytes), r.Unchanged, r.Deleted, r.Skipped, r.Failed, r.Listed, roundDuration(r.Duration))
	if r.Excluded > 0 {
		s += fmt.Sprintf("; %d in the storage outside media.include/exclude, left as they are", r.Excluded)
	}
	if r.Raced > 0 {
		s += fmt.Sprintf("; %d changed at the source meanwhile (next run)", r.Raced)
	}
	if t := r.Throttled(side); t != "" {
		s += "; " + t
	}
	return s
}

// mirrorEstimate says how long the copies of a dry run take at least at the
// request limit: each copy is one GET from the bucket and (below a part)
// one upload to the storage, each side at rps per second, plus a listing
// request per 1,000 objects.
func mirrorEstimate(r mediasync.Result, rps int) string {
	reqs := r.Copied + (r.Listed+999)/1000
	d := time.Duration(float64(reqs) / float64(rps) * float64(time.Second))
	return fmt.Sprintf("  at media.max_requests_per_second %d: copying takes at least %s (%d requests to the bucket, as many to the storage); the copier's own ceiling is in the README",
		rps, roundDuration(d), reqs)
}

// prefixLines indents every line written to it.
type prefixLines struct {
	w      io.Writer
	prefix string
}

func (p prefixLines) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			fmt.Fprint(p.w, p.prefix+line)
		}
	}
	return len(b), nil
}
