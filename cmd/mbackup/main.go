// Command mbackup backs up a self-hosted Mastodon instance: PostgreSQL, Redis,
// MySQL/MariaDB and the media bucket, compressed and encrypted with age, into
// Backblaze B2, any S3 or a local directory. See "mbackup help".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// main is the only place that exits; everything else returns.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
