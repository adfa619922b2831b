package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"mbackup/internal/artifact"
	"mbackup/internal/dump"
	"mbackup/internal/engine"
	"mbackup/internal/restore"
	"mbackup/internal/snapshot"
)

// printReport prints the time of every step and the total (the recovery
// time, RTO, of what was restored), then what is left to do: the engines'
// notes and, after a Mastodon database, Mastodon's own after-steps.
func printReport(w io.Writer, m *snapshot.Manifest, rep restore.Report, err error) {
	printPreflightNotes(w, rep)
	if len(rep.Steps) == 0 {
		return
	}
	fmt.Fprintf(w, "\nsnapshot %s:\n", m.ID)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tfetch+check\trestore+count\tstep total\tresult\t")
	for _, s := range rep.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", s.Name(), roundDuration(s.Fetch), roundDuration(s.Apply),
			roundDuration(s.Fetch+s.Apply), stepResult(s))
	}
	tw.Flush()
	verb := "restored"
	if err != nil {
		verb = "stopped after a failure"
	}
	fmt.Fprintf(w, "%s in %s in total (the recovery time, RTO), of which %s reading and checking every artifact and target first\n",
		verb, roundDuration(rep.Total), roundDuration(rep.Preflight))
	printNotes(w, rep)
	if err == nil {
		printAfterSteps(w, m, rep)
	}
}

func stepResult(s restore.StepResult) string {
	switch {
	case s.Err != nil:
		return "FAILED"
	case s.Tables > 0:
		return fmt.Sprintf("%d tables' rows as at backup", s.Tables)
	}
	return "ok"
}

// printPreflightNotes prints what the checks before the first step found
// that does not stop the restore: roles that exist already, extensions
// that could not be checked.
func printPreflightNotes(w io.Writer, rep restore.Report) {
	if len(rep.Notes) == 0 {
		return
	}
	fmt.Fprintln(w, "\nThe checks before the first step found:")
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "  "+n)
	}
}

// printNotes prints the engines' notes: the roles created and those left
// without a password, how to start Redis on its file.
func printNotes(w io.Writer, rep restore.Report) {
	header := false
	for _, s := range rep.Steps {
		for _, n := range s.Notes {
			if !header {
				fmt.Fprintln(w, "\nWhat the steps leave to do or to know:")
				header = true
			}
			fmt.Fprintln(w, "  "+n)
		}
	}
}

// printAfterSteps prints what is left to do after a restore: for a
// database restored under another name, dropping it after the check; for
// a Mastodon database restored as itself, Mastodon's after-steps.
func printAfterSteps(w io.Writer, m *snapshot.Manifest, rep restore.Report) {
	for _, s := range rep.Steps {
		if s.Database != "" && s.Database != s.Artifact.Name {
			fmt.Fprintf(w, "\n%s is a copy of %s, restored next to it: compare them, then drop it (%s).\n",
				s.Database, s.Artifact.Name, dropHint(s))
		}
	}
	i := slices.IndexFunc(rep.Steps, func(s restore.StepResult) bool {
		return s.Database == s.Artifact.Name && isMastodon(s.Artifact)
	})
	if i < 0 {
		return
	}
	redisDone := slices.ContainsFunc(rep.Steps, func(s restore.StepResult) bool { return s.Artifact.Component == string(artifact.Redis) })
	fmt.Fprint(w, mastodonAfterSteps(rep.Steps[i].Database, redisDone, hasComponent(m, artifact.Redis)))
}

func dropHint(s restore.StepResult) string {
	if s.Artifact.Component == string(artifact.MySQL) {
		return fmt.Sprintf("DROP DATABASE `%s`", strings.ReplaceAll(s.Database, "`", "``"))
	}
	return fmt.Sprintf("dropdb %q", s.Database)
}

// isMastodon reports whether a is a PostgreSQL database with Mastodon's
// tables (accounts and statuses in the public schema).
func isMastodon(a snapshot.Artifact) bool {
	if a.Component != string(artifact.Postgres) {
		return false
	}
	has := func(table string) bool {
		return slices.ContainsFunc(a.Tables, func(t dump.TableCount) bool { return t.Schema == "public" && t.Table == table })
	}
	return has("accounts") && has("statuses")
}

func hasComponent(m *snapshot.Manifest, c artifact.Component) bool {
	return slices.ContainsFunc(m.Artifacts, func(a snapshot.Artifact) bool { return a.Component == string(c) })
}

// mastodonAfterSteps are the steps of Mastodon's own migration guide that
// come after the data is back, for database db.
func mastodonAfterSteps(db string, redisDone, redisInSnapshot bool) string {
	feeds := "rebuilds the home timelines, which live in Redis"
	switch {
	case redisDone:
		feeds = "optional: Redis was restored with the timelines as at backup"
	case redisInSnapshot:
		feeds = "needed: Redis was not restored, so the home timelines are empty until then"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nMastodon (%s) is back; what is left to do, as the mastodon user in ~/live unless said:\n", db)
	for i, step := range []string{
		fmt.Sprintf(".env.production in place (restored with the files, or from the old machine), with DB_NAME=%s and DB_HOST, REDIS_HOST pointing at this machine's servers", db),
		"the same Mastodon version installed, then: RAILS_ENV=production bundle exec rails assets:precompile",
		"RAILS_ENV=production bin/tootctl feeds build   (" + feeds + ")",
		"RAILS_ENV=production bin/tootctl search deploy   (only with ES_ENABLED=true: rebuilds the Elasticsearch indexes)",
		"as root: systemctl daemon-reload && systemctl start mastodon-web mastodon-sidekiq mastodon-streaming",
		"DNS: point the domain's A/AAAA records at this machine; TLS: /etc/letsencrypt restored, or certbot --nginx -d DOMAIN; then systemctl reload nginx",
	} {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, step)
	}
	return b.String()
}

// suggestAs adds to a refusal of a database that exists and is not empty
// the two ways past it: another name (--as, for the first step refused),
// or --clean.
func suggestAs(err error) error {
	if !errors.Is(err, engine.ErrNotEmpty) {
		return err
	}
	only, name := "postgres/DB", "NEWNAME"
	if s, ok := refusedStep(err); ok {
		only, name = s.Name(), s.Database+"_check"
	}
	return fmt.Errorf("%w\nto restore a database next to the one there, give it another name: --only %s --as %s; "+
		"to restore over it: --clean", err, only, name)
}

// refusedStep is the first database step that err, the joined refusals
// of the preflight, refuses as not empty.
func refusedStep(err error) (restore.Step, bool) {
	var refusals []error
	for e := err; e != nil && refusals == nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			refusals = j.Unwrap()
		}
	}
	for _, r := range refusals {
		var te *restore.TargetError
		if errors.As(r, &te) && te.Step.Database != "" && errors.Is(te, engine.ErrNotEmpty) {
			return te.Step, true
		}
	}
	return restore.Step{}, false
}
