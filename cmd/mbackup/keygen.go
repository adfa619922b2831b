package main

import (
	"context"
	"fmt"
	"time"

	"filippo.io/age"

	"mbackup/internal/draft"
	"mbackup/internal/newfile"
)

func runKeygen(ctx context.Context, e *env, args []string) error {
	fs := e.flagSet("keygen")
	out := fs.String("o", "", "write the identity to `FILE` (created 0600, never overwritten) instead of stdout")
	signing := fs.Bool("signing", false, "make the backup host's signing key instead (with -o FILE; run it on the backup host) and print the encryption.signer line")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("keygen: unexpected argument %q", fs.Arg(0))
	}
	if *signing {
		if *out == "" {
			return usagef("keygen: --signing needs -o FILE, such as -o /etc/mbackup/signing.key")
		}
		pub, err := draft.NewSigningKey(*out)
		if err != nil {
			return fmt.Errorf("keygen: %w", err)
		}
		fmt.Fprintf(e.stderr, "wrote the signing key to %s: set encryption.signing_key_file to it on this host; "+
			"keep the line below with your identity and in encryption.signer of the configuration you restore with\n", *out)
		fmt.Fprintln(e.stdout, pub)
		return nil
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	// The same layout as age-keygen's, so either tool reads the other's file.
	text := fmt.Sprintf("# created: %s\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
	if *out == "" {
		fmt.Fprintf(e.stderr, "Public key: %s\n", id.Recipient())
		_, err := fmt.Fprint(e.stdout, text)
		return err
	}
	if err := newfile.Write(*out, []byte(text)); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Fprintf(e.stderr, "wrote the identity to %s: keep it offline, it is needed to restore\n", *out)
	fmt.Fprintln(e.stdout, id.Recipient())
	return nil
}
