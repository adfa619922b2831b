#!/usr/bin/env bash
# The test command: every package, with the race detector. The tests start
# their own throwaway PostgreSQL, MariaDB, Redis and S3 servers; a missing
# binary fails with the command that installs it.
set -euo pipefail
cd "$(dirname "$0")"
exec go test -race -count=1 -timeout 30m "$@" ./...
