package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"mbackup/internal/dotenv"
	"mbackup/internal/draft"
)

// runInit drafts a configuration from Mastodon's .env.production (see
// draft.Mastodon) and writes it with its secret files beside it.
func runInit(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("init")
	from := fs.String("from", "", "Mastodon's `.env.production` to read, such as /home/mastodon/live/.env.production")
	out := fs.String("o", "mbackup.yaml", "configuration `file` to write; the secret files go beside it")
	group := fs.String("group", "", "make the files 0640 and a directory init creates 0750, of `group` NAME (the service's, such as mbackup); default 0600 and 0700, this user's")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("init: unexpected argument %q", fs.Arg(0))
	}
	if *from == "" {
		return usagef("init: --from FILE is required: Mastodon's .env.production, such as /home/mastodon/live/.env.production")
	}
	gid := -1
	if *group != "" {
		var err error
		if gid, err = lookupGID(*group); err != nil {
			return err
		}
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
	if err := initDir(e, dir, gid, *group); err != nil {
		return err
	}
	write := d.Write
	if gid >= 0 {
		write = func(cfg string) error { return d.WriteGroup(cfg, gid) }
	}
	if err := write(*out); err != nil {
		return fmt.Errorf("init: %w%s", err, existsHint(err, " (move it away, or choose another file with -o)"))
	}
	printInit(e, d, *out, *from, *group)
	return nil
}

// initDir makes the configuration's directory: 0700, or 0750 of group gid
// when gid >= 0. An existing directory is left as it is; when the group
// cannot enter it, initDir says how to let it.
func initDir(e *env, dir string, gid int, group string) error {
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	switch {
	case gid < 0:
		return nil
	case statErr == nil:
		if !groupEnters(dir, gid) {
			fmt.Fprintf(e.stderr, "mbackup: warning: group %s cannot enter %s: chown root:%s %s && chmod 0750 %s\n",
				group, dir, group, shellQuote(dir), shellQuote(dir))
		}
		return nil
	}
	err := os.Chown(dir, -1, gid)
	if err == nil {
		err = os.Chmod(dir, 0o750)
	}
	if err != nil {
		return fmt.Errorf("init: %s for group %s: %w", dir, group, pathCause(err))
	}
	return nil
}

// lookupGID is the id of group name.
func lookupGID(name string) (int, error) {
	g, err := user.LookupGroup(name)
	gid := -1
	if err == nil {
		gid, err = strconv.Atoi(g.Gid)
	}
	if err != nil {
		return -1, fmt.Errorf("init: --group %s: %w: create it first (useradd --system --shell /usr/sbin/nologin %s makes the user and its group)", name, err, name)
	}
	return gid, nil
}

// groupEnters reports whether dir belongs to group gid and lets it in.
func groupEnters(dir string, gid int) bool {
	fi, err := os.Stat(dir)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && (int(st.Gid) == gid && fi.Mode().Perm()&0o010 != 0 || fi.Mode().Perm()&0o001 != 0)
}

// existsHint returns hint when err says a file is in the way.
func existsHint(err error, hint string) string {
	if errors.Is(err, fs.ErrExist) {
		return hint
	}
	return ""
}

func printInit(e *env, d *draft.Draft, out, from, group string) {
	dir := filepath.Dir(out)
	fmt.Fprintf(e.stdout, "mbackup init: drafted %s from %s\n\n", out, from)
	for _, l := range d.Found {
		fmt.Fprintf(e.stdout, "  %s\n", l)
	}
	mode := "0600"
	if group != "" {
		mode = "0640, group " + group
	}
	if len(d.Secrets) > 0 {
		fmt.Fprintln(e.stdout)
		for _, s := range d.Secrets {
			fmt.Fprintf(e.stdout, "  wrote %s (%s): %s\n", filepath.Join(dir, s.Name), mode, s.What)
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
