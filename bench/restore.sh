#!/usr/bin/env bash
# Benchmark of "mbackup restore --only postgres/bench" against bare pg_restore.
#
# On a throwaway PostgreSQL 15 server it loads a "pgbench -i -s SCALE"
# database, takes one snapshot of it with "mbackup backup --only postgres"
# (local store, one X25519 recipient, the one database, no globals) and
# decrypts that snapshot's dump once into a plain file, so that both sides
# restore the very same dump. Then it times, round after round (A B A B ...),
# each into a missing database (dropdb bench, untimed, before every run):
#
#   A  mbackup restore --yes -i IDENTITY --only postgres/bench --jobs 2
#                      --staging DIR ID          (creates the database itself)
#   B  createdb bench && pg_restore -j 2 -d bench FILE
#   C  age -d -i IDENTITY ARTIFACT | zstd -d -o STAGED && B on STAGED
#      (the README's restore by hand: what A does, without mbackup)
#
# and prints the median wall time of each, the ratios A/B and A/C (the median of the
# per-round ratios, so a drift of the machine's speed cancels out) and the
# peak RSS of A (GNU time's "maximum resident set size"). A runs as an admin
# would, its progress on: on a pseudo-terminal (script(1)), so the bar is
# drawn and pg_restore's verbose lines are counted; its output is kept in a
# file and printed for the last run.
#
# It never touches the machine's own PostgreSQL: the server is initdb'd into
# a temporary directory, listens on no TCP address (only on a Unix socket in
# that directory, on a port number free on this machine), and is stopped and
# removed, with everything else, on exit.
#
# Usage: bench/restore.sh [-n RUNS] [-s SCALE] [--hold]
#   -n RUNS   measured rounds (default 5), after one warm-up round
#   -s SCALE  pgbench scale (default 50: 5 million accounts, ~750 MB)
#   --hold    set up, print the commands and the environment, and wait
#             (until Ctrl-C) instead of measuring: for profiling by hand
#
# Needs: go, PostgreSQL 15 server binaries (postgresql-15), zstd, age and
# GNU time (/usr/bin/time). Run as root (the server then runs as the
# "postgres" OS user) or as any user allowed to run initdb.
set -euo pipefail

runs=5
scale=50
hold=0
while [ $# -gt 0 ]; do
	case $1 in
	-n) runs=${2:?-n needs a number}; shift 2 ;;
	-s) scale=${2:?-s needs a number}; shift 2 ;;
	--hold) hold=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "restore.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
case $runs$scale in *[!0-9]*) echo "restore.sh: -n and -s take positive integers" >&2; exit 2 ;; esac
if [ "$runs" -lt 1 ] || [ "$scale" -lt 1 ]; then
	echo "restore.sh: -n and -s take positive integers" >&2
	exit 2
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

# --- prerequisites ---------------------------------------------------------
missing=()
for b in initdb pg_ctl pg_dump pg_restore pgbench psql createdb dropdb; do
	[ -x "$PGBIN/$b" ] || missing+=("$PGBIN/$b (apt-get install postgresql-15)")
done
command -v go >/dev/null || missing+=("go (https://go.dev/dl/)")
command -v zstd >/dev/null || missing+=("zstd (apt-get install zstd)")
command -v age >/dev/null || missing+=("age (apt-get install age)")
[ -x /usr/bin/time ] || missing+=("/usr/bin/time (GNU time: apt-get install time)")
command -v script >/dev/null || missing+=("script (apt-get install bsdutils)")
command -v ss >/dev/null || missing+=("ss (apt-get install iproute2)")
if [ ${#missing[@]} -gt 0 ]; then
	echo "restore.sh: missing:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	exit 1
fi

# --- the temporary directory and its cleanup --------------------------------
tmp=$(mktemp -d /tmp/mbackup-bench.XXXXXX)
data=$tmp/data
sock=$tmp/sock
server_started=0
sleeper=

as_server() { # runs a server-side command as the postgres OS user when root
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null || true; fi
	if [ "$server_started" -eq 1 ]; then
		as_server "$PGBIN/pg_ctl" stop -D "$data" -m immediate -w >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$sock" "$tmp/store" "$tmp/out" "$tmp/staging"
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || { echo "restore.sh: run as root needs the postgres OS user (initdb refuses root)" >&2; exit 1; }
	chown postgres: "$tmp" "$sock"
	chmod 0711 "$tmp" # root and postgres reach the socket; nobody else lists it
fi

# A port number nobody listens on; the server listens on no TCP address at
# all, so the number only names the socket file in our own directory.
port=
for _ in $(seq 50); do
	p=$((20000 + RANDOM % 40000))
	if ! ss -Htln "sport = :$p" | grep -q .; then
		port=$p
		break
	fi
done
[ -n "$port" ] || { echo "restore.sh: no free port found" >&2; exit 1; }

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- mbackup -----------------------------------------------------------------
# Built first: without a restore command there is nothing to measure.
log "go build -o $tmp/mbackup ./cmd/mbackup"
(cd "$repo" && CGO_ENABLED=0 go build -o "$tmp/mbackup" ./cmd/mbackup)
if ! "$tmp/mbackup" help restore >/dev/null 2>&1; then
	echo "restore.sh: this mbackup has no restore command (mbackup help restore fails)" >&2
	exit 1
fi

# --- server ------------------------------------------------------------------
log "initdb in $data (port $port, socket $sock)"
as_server "$PGBIN/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=reject \
	--no-locale -E UTF8 --no-sync --no-instructions >"$tmp/initdb.log" 2>&1 ||
	{ cat "$tmp/initdb.log" >&2; exit 1; }
cat >>"$data/postgresql.conf" <<EOF
# bench/restore.sh: private, and fast to load (durability is not needed)
listen_addresses = ''
port = $port
unix_socket_directories = '$sock'
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
# The ANALYZE autovacuum starts on the freshly loaded tables lands at a
# random point of a run, or of the next, and takes one of the CPUs.
autovacuum = off
EOF
server_started=1
as_server "$PGBIN/pg_ctl" start -D "$data" -l "$data/server.log" -w -t 60 >/dev/null ||
	{ cat "$data/server.log" >&2; exit 1; }

export PGHOST=$sock PGPORT=$port PGUSER=postgres
unset PGPASSWORD PGDATABASE PGSERVICE PGSSLMODE
export PATH=$PGBIN:$PATH # pg_dump and pg_restore 15 themselves, not wrappers in /usr/bin

log "pgbench -i -s $scale bench"
"$PGBIN/createdb" bench
"$PGBIN/pgbench" -i -q -s "$scale" bench >"$tmp/pgbench.log" 2>&1 ||
	{ cat "$tmp/pgbench.log" >&2; exit 1; }
"$PGBIN/psql" -XAtq -d bench -c 'VACUUM ANALYZE'
dbsize=$("$PGBIN/psql" -XAtq -d bench -c "SELECT pg_size_pretty(pg_database_size('bench'))")
accounts=$((scale * 100000))

# --- the snapshot, and the same dump in plain ----------------------------------
recipient=$("$tmp/mbackup" keygen -o "$tmp/identity.txt" 2>/dev/null)
signer=$("$tmp/mbackup" keygen --signing -o "$tmp/signing.key" 2>/dev/null)
cat >"$tmp/mbackup.yaml" <<EOF
storage:
  type: local
  path: $tmp/store
encryption:
  recipients: ["$recipient"]
  signing_key_file: $tmp/signing.key
  signer: "$signer"
postgres:
  host: $sock
  port: $port
  user: postgres
  sslmode: disable
  databases: [bench]
  globals: false
EOF

log "mbackup backup --only postgres (once)"
"$tmp/mbackup" --config "$tmp/mbackup.yaml" backup --only postgres >"$tmp/backup.log" 2>&1 ||
	{ cat "$tmp/backup.log" >&2; exit 1; }
id=$(awk '$1 == "snapshot" {sub(/:$/, "", $2); print $2; exit}' "$tmp/backup.log")
artifact=$(find "$tmp/store/snapshots/$id/postgres" -type f -name 'bench*.zst.age' | head -n 1)
if [ -z "$id" ] || [ -z "$artifact" ]; then
	echo "restore.sh: no postgres/bench artifact in the snapshot:" >&2
	cat "$tmp/backup.log" >&2
	exit 1
fi
log "age -d | zstd -d: $artifact -> $tmp/out/bench.dump"
age -d -i "$tmp/identity.txt" "$artifact" | zstd -d -q -o "$tmp/out/bench.dump"
stored=$(du -h --apparent-size "$artifact" | cut -f1)
plain=$(du -h --apparent-size "$tmp/out/bench.dump" | cut -f1)

cmd_a=("$tmp/mbackup" --config "$tmp/mbackup.yaml" restore --yes -i "$tmp/identity.txt"
	--only postgres/bench --pg-host "$sock" --pg-port "$port" --pg-user postgres
	--jobs 2 --staging "$tmp/staging" "$id")
# A runs on a terminal (script(1) gives it a pseudo-terminal), as an admin
# sees it: the progress bar redrawn in place and pg_restore --verbose
# parsed for the items of its table of contents.
cmd_a=(script -qefc "$(printf '%q ' "${cmd_a[@]}")" /dev/null)
# shellcheck disable=SC2016 # $1 is the inner shell's argument
cmd_b=(sh -c 'createdb bench && exec pg_restore -j 2 -d bench "$1"' restore "$tmp/out/bench.dump")
# C is the same restore by hand, as the README's "Restore by hand" does it:
# decrypt and decompress the artifact to a file, then createdb and
# pg_restore; the file is removed afterwards, untimed.
# shellcheck disable=SC2016 # $1..$3 are the inner shell's arguments
cmd_c=(sh -c 'age -d -i "$1" "$2" | zstd -d -q -f -o "$3" && createdb bench && pg_restore -j 2 -d bench "$3"; s=$?; rm -f "$3"; exit $s'
	restore "$tmp/identity.txt" "$artifact" "$tmp/staging/by-hand.dump")

if [ "$hold" -eq 1 ]; then
	"$PGBIN/dropdb" --if-exists bench
	cat <<EOF
Set up: snapshot $id of database bench ($dbsize, pgbench scale $scale),
its dump decrypted to $tmp/out/bench.dump; database bench dropped.
In another shell (dropdb bench between runs):

  export PGHOST=$sock PGPORT=$port PGUSER=postgres PATH=$PGBIN:\$PATH
  ${cmd_a[*]}
  createdb bench && pg_restore -j 2 -d bench $tmp/out/bench.dump

Ctrl-C (or SIGTERM to $$) stops the server and removes $tmp.
EOF
	while :; do
		sleep 3600 &
		sleeper=$!
		wait "$sleeper" || true
	done
fi

# --- measurement -------------------------------------------------------------
# run NAME CMD...: runs CMD once, appends "wall_seconds max_rss_kib" to
# $tmp/NAME.times; a failure stops the benchmark with the command's output.
run() {
	local name=$1 t0 t1 rss
	shift
	t0=$EPOCHREALTIME
	if ! /usr/bin/time -f '%M' -o "$tmp/rss" "$@" </dev/null >"$tmp/$name.log" 2>&1; then
		echo "restore.sh: $name failed:" >&2
		cat "$tmp/$name.log" >&2
		exit 1
	fi
	t1=$EPOCHREALTIME
	rss=$(tail -n 1 "$tmp/rss")
	echo "$t0 $t1 $rss" | awk '{printf "%.3f %d\n", $2 - $1, $3}' >>"$tmp/$name.times"
}

# Untimed after each run: the restore must have loaded every account.
check() {
	local n
	n=$("$PGBIN/psql" -XAtq -d bench -c 'SELECT count(*) FROM pgbench_accounts')
	if [ "$n" != "$accounts" ]; then
		echo "restore.sh: $1 restored $n accounts, not $accounts:" >&2
		cat "$tmp/$1.log" >&2
		exit 1
	fi
}

# Untimed before each run: the database goes, and the dirty pages of the
# previous restore are written out, so every run starts from the same state.
tidy() {
	"$PGBIN/dropdb" --if-exists bench
	"$PGBIN/psql" -XAtq -d postgres -c 'CHECKPOINT'
	rm -rf "${tmp:?}/staging" && mkdir -p "$tmp/staging"
	sync
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "load before measuring: $load_before"
for i in $(seq 0 "$runs"); do
	if [ "$i" -eq 0 ]; then log "warm-up round"; else log "round $i/$runs"; fi
	for name in a b c; do
		tidy
		case $name in
		a) run a "${cmd_a[@]}" ;;
		b) run b "${cmd_b[@]}" ;;
		c) run c "${cmd_c[@]}" ;;
		esac
		check "$name"
	done
	if [ "$i" -eq 0 ]; then
		rm -f "$tmp"/[abc].times
	fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
tidy

median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
col() { awk -v c="$2" '{print $c}' "$tmp/$1.times"; }
ratios() { paste -d' ' "$tmp/$1.times" "$tmp/$2.times" | awk '{printf "%.4f\n", $1 / $3}'; }
minmax() { sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%s..%s", lo, hi}'; }

wall_a=$(col a 1 | median)
wall_b=$(col b 1 | median)
wall_c=$(col c 1 | median)
ratio_ab=$(ratios a b | median)
ratio_ac=$(ratios a c | median)
rss_a=$(col a 2 | sort -n | tail -n 1)
rss_b=$(col b 2 | sort -n | tail -n 1)

mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }
verdict() { awk -v x="$1" -v t="$2" 'BEGIN {print (x <= t ? "ok" : "MISSED")}'; }

cat <<EOF

mbackup restore --only postgres/bench vs bare pg_restore
  database:  pgbench -i -s $scale ($dbsize), PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), local store
  dump:      $plain plain (pg_dump -Fc -Z0), $stored stored (zstd, age)
  machine:   $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM
  runs:      $runs rounds (A B C in turn) after 1 warm-up round
  load:      before $load_before, after $load_after (1/5/15 min)

  wall time, seconds                          median    min..max
  A mbackup restore --jobs 2                  $(printf '%7s' "$wall_a")   $(col a 1 | minmax)
  B createdb && pg_restore -j 2 (plain file)  $(printf '%7s' "$wall_b")   $(col b 1 | minmax)
  C by hand: age -d | zstd -d > file, then B  $(printf '%7s' "$wall_c")   $(col c 1 | minmax)

  A/B  $ratio_ab  (target <= 1.15: $(verdict "$ratio_ab" 1.15))   per round: $(ratios a b | tr '\n' ' ')
  A/C  $ratio_ac  (the same work by hand)   per round: $(ratios a c | tr '\n' ' ')

  peak RSS of A  $(mib "$rss_a")
    the largest of mbackup and its pg_restore processes; bare pg_restore peaks at $(mib "$rss_b")

  mbackup's output of its last run:
$(sed 's/^/    /' "$tmp/a.log")
EOF
