package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"mbackup/internal/dotenv"
	"mbackup/internal/draft"
)

// runInit drafts a configuration from Mastodon's .env.production (see
// draft.Mastodon) and writes it with its secret files beside it.
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
	d, err := draft.Mastodon(vars, *from)
	if err != nil {
		return fmt.Errorf("init: %s: %w", *from, err)
	}
	dir := filepath.Dir(*out)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := d.Write(*out); err != nil {
		return fmt.Errorf("init: %w%s", err, existsHint(err, " (move it away, or choose another file with -o)"))
	}
	printInit(e, d, *out, *from)
	return nil
}

// existsHint returns hint when err says a file is in the way.
func existsHint(err error, hint string) string {
	if errors.Is(err, fs.ErrExist) {
		return hint
	}
	return ""
}

func printInit(e *env, d *draft.Draft, out, from string) {
	dir := filepath.Dir(out)
	fmt.Fprintf(e.stdout, "mbackup init: drafted %s from %s\n\n", out, from)
	for _, l := range d.Found {
		fmt.Fprintf(e.stdout, "  %s\n", l)
	}
	if len(d.Secrets) > 0 {
		fmt.Fprintln(e.stdout)
		for _, s := range d.Secrets {
			fmt.Fprintf(e.stdout, "  wrote %s (0600): %s\n", filepath.Join(dir, s.Name), s.What)
		}
	}
	for _, n := range d.Notes {
		fmt.Fprintf(e.stdout, "\n  note: %s\n", n)
	}
	fmt.Fprintf(e.stdout, "\n  signer (keep this line with your identity; restores trust it):\n    %s\n", d.Signer)
	fmt.Fprint(e.stdout, initNext(out, dir))
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
