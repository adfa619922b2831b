#!/usr/bin/env bash
# Benchmark of "mbackup backup --only postgres" against the bare tools.
#
# On a throwaway PostgreSQL 15 server holding a "pgbench -i -s SCALE"
# database it times, round after round (A B C A B C ...):
#
#   A  mbackup backup --only postgres      (local store, one X25519 recipient,
#                                            the one database, no globals)
#   B  pg_dump -Fc -Z0 bench > /dev/null
#   C  pg_dump -Fc -Z0 bench | zstd -3 | age -r KEY > FILE
#
# and prints the median wall time of each, the ratios A/B and A/C (the median
# of the per-round ratios, so a drift of the machine's speed cancels out),
# the peak RSS of A (GNU time's "maximum resident set size"), and where the
# CPU went: each command's user+system time with its children (GNU time),
# the server's during it (the postmaster's /proc stat with its exited
# backends), and mbackup's own, A's less the same round's bare pg_dump (B).
#
# It never touches the machine's own PostgreSQL: the server is initdb'd into
# a temporary directory, listens on no TCP address (only on a Unix socket in
# that directory, on a port number free on this machine), and is stopped and
# removed, with everything else, on exit.
#
# Usage: bench/backup.sh [-n RUNS] [-s SCALE] [--hold]
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
	*) echo "backup.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
case $runs$scale in *[!0-9]*) echo "backup.sh: -n and -s take positive integers" >&2; exit 2 ;; esac
if [ "$runs" -lt 1 ] || [ "$scale" -lt 1 ]; then
	echo "backup.sh: -n and -s take positive integers" >&2
	exit 2
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

# --- prerequisites ---------------------------------------------------------
missing=()
for b in initdb pg_ctl pg_dump pgbench psql createdb; do
	[ -x "$PGBIN/$b" ] || missing+=("$PGBIN/$b (apt-get install postgresql-15)")
done
command -v go >/dev/null || missing+=("go (https://go.dev/dl/)")
command -v zstd >/dev/null || missing+=("zstd (apt-get install zstd)")
command -v age >/dev/null || missing+=("age (apt-get install age)")
[ -x /usr/bin/time ] || missing+=("/usr/bin/time (GNU time: apt-get install time)")
command -v ss >/dev/null || missing+=("ss (apt-get install iproute2)")
command -v pgrep >/dev/null || missing+=("pgrep (apt-get install procps)")
if [ ${#missing[@]} -gt 0 ]; then
	echo "backup.sh: missing:" >&2
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

mkdir -p "$sock" "$tmp/store" "$tmp/out"
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || { echo "backup.sh: run as root needs the postgres OS user (initdb refuses root)" >&2; exit 1; }
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
[ -n "$port" ] || { echo "backup.sh: no free port found" >&2; exit 1; }

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- server ------------------------------------------------------------------
log "initdb in $data (port $port, socket $sock)"
as_server "$PGBIN/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=reject \
	--no-locale -E UTF8 --no-sync --no-instructions >"$tmp/initdb.log" 2>&1 ||
	{ cat "$tmp/initdb.log" >&2; exit 1; }
cat >>"$data/postgresql.conf" <<EOF
# bench/backup.sh: private, and fast to load (durability is not needed)
listen_addresses = ''
port = $port
unix_socket_directories = '$sock'
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
EOF
server_started=1
as_server "$PGBIN/pg_ctl" start -D "$data" -l "$data/server.log" -w -t 60 >/dev/null ||
	{ cat "$data/server.log" >&2; exit 1; }

export PGHOST=$sock PGPORT=$port PGUSER=postgres
unset PGPASSWORD PGDATABASE PGSERVICE PGSSLMODE
export PATH=$PGBIN:$PATH # pg_dump 15 itself, not a wrapper in /usr/bin

log "pgbench -i -s $scale bench"
"$PGBIN/createdb" bench
"$PGBIN/pgbench" -i -q -s "$scale" bench >"$tmp/pgbench.log" 2>&1 ||
	{ cat "$tmp/pgbench.log" >&2; exit 1; }
"$PGBIN/psql" -XAtq -d bench -c 'VACUUM ANALYZE' # hint bits and visibility map: every run reads the same
dbsize=$("$PGBIN/psql" -XAtq -d bench -c "SELECT pg_size_pretty(pg_database_size('bench'))")

# --- mbackup -----------------------------------------------------------------
log "go build -o $tmp/mbackup ./cmd/mbackup"
(cd "$repo" && CGO_ENABLED=0 go build -o "$tmp/mbackup" ./cmd/mbackup)
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

cmd_a=("$tmp/mbackup" --config "$tmp/mbackup.yaml" backup --only postgres)
cmd_b=(sh -c 'exec pg_dump -Fc -Z0 bench >/dev/null')
# shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
cmd_c=(bash -o pipefail -c 'pg_dump -Fc -Z0 bench | zstd -q -3 | age -r "$1" >"$2"' pipeline "$recipient" "$tmp/out/bench.dump.zst.age")

if [ "$hold" -eq 1 ]; then
	cat <<EOF
Set up: database bench ($dbsize, pgbench scale $scale). In another shell:

  export PGHOST=$sock PGPORT=$port PGUSER=postgres PATH=$PGBIN:\$PATH
  $tmp/mbackup --config $tmp/mbackup.yaml backup --only postgres
  pg_dump -Fc -Z0 bench >/dev/null
  pg_dump -Fc -Z0 bench | zstd -3 | age -r $recipient >$tmp/out/bench.dump.zst.age

Snapshots go to $tmp/store. Ctrl-C (or SIGTERM to $$) stops the server and removes $tmp.
EOF
	while :; do
		sleep 3600 &
		sleeper=$!
		wait "$sleeper" || true
	done
fi

# --- measurement -------------------------------------------------------------
postmaster=$(head -n 1 "$data/postmaster.pid")
hz=$(getconf CLK_TCK)
server_procs=$(pgrep -c -P "$postmaster")

# server_cpu: CPU seconds of the server so far, its exited backends included
# (utime, stime, cutime, cstime of the postmaster).
server_cpu() { awk -v hz="$hz" '{sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13 + $14 + $15) / hz}' "/proc/$postmaster/stat"; }

# settle: waits (up to 10 s) until the server has no more processes than
# before the measurements, so that the backends of the command just run
# have exited and their CPU is in the postmaster's cutime and cstime.
settle() {
	local i
	for i in $(seq 200); do
		[ "$(pgrep -c -P "$postmaster")" -le "$server_procs" ] && return
		sleep 0.05
	done
}

# run NAME CMD...: runs CMD once, appends "wall_seconds max_rss_kib cpu_seconds
# server_cpu_seconds" to $tmp/NAME.times; a failure stops the benchmark with
# the command's output.
run() {
	local name=$1 t0 t1 s0 s1
	shift
	s0=$(server_cpu)
	t0=$EPOCHREALTIME
	if ! /usr/bin/time -f '%M %U %S' -o "$tmp/rss" "$@" >"$tmp/cmd.log" 2>&1; then
		echo "backup.sh: $name failed:" >&2
		cat "$tmp/cmd.log" >&2
		exit 1
	fi
	t1=$EPOCHREALTIME
	settle
	s1=$(server_cpu)
	tail -n 1 "$tmp/rss" | awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" \
		'{printf "%.3f %d %.2f %.2f\n", t1 - t0, $1, $2 + $3, s1 - s0}' >>"$tmp/$name.times"
}

# Untimed between runs: the previous outputs go, and their dirty pages with them.
tidy() {
	rm -rf "${tmp:?}/store/snapshots" "$tmp/out/bench.dump.zst.age"
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
	done
	if [ "$i" -eq 0 ]; then
		rm -f "$tmp"/[abc].times
	fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
tidy

median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
col() { awk -v c="$2" '{print $c}' "$tmp/$1.times"; }
ratios() { paste -d' ' "$tmp/$1.times" "$tmp/$2.times" | awk '{printf "%.4f\n", $1 / $5}'; }
diffs() { paste -d' ' "$tmp/$1.times" "$tmp/$2.times" | awk -v c="$3" '{printf "%.2f\n", $c - $(c + 4)}'; }
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

mbackup backup --only postgres vs the bare tools
  database:  pgbench -i -s $scale ($dbsize), PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), local store
  machine:   $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM
  runs:      $runs rounds (A B C in turn) after 1 warm-up round
  load:      before $load_before, after $load_after (1/5/15 min)

  wall time, seconds            median    min..max
  A mbackup backup              $(printf '%7s' "$wall_a")   $(col a 1 | minmax)
  B pg_dump > /dev/null         $(printf '%7s' "$wall_b")   $(col b 1 | minmax)
  C pg_dump | zstd | age > file $(printf '%7s' "$wall_c")   $(col c 1 | minmax)

  A/B  $ratio_ab  (target <= 1.10: $(verdict "$ratio_ab" 1.10))   per round: $(ratios a b | tr '\n' ' ')
  A/C  $ratio_ac                              per round: $(ratios a c | tr '\n' ' ')

  A/C  target <= 0.90: $(verdict "$ratio_ac" 0.90)

  peak RSS of A  $(mib "$rss_a")  (target <= 64 MiB: $(verdict "$rss_a" 65536))
    the largest of mbackup and its pg_dump child; pg_dump alone peaks at $(mib "$rss_b")

  CPU seconds (user+system), median    command with children   server
  A mbackup + pg_dump                  $(printf '%7s' "$(col a 3 | median)")                 $(col a 4 | median)
  B pg_dump > /dev/null                $(printf '%7s' "$(col b 3 | median)")                 $(col b 4 | median)
  C pg_dump + zstd -3 + age            $(printf '%7s' "$(col c 3 | median)")                 $(col c 4 | median)
  mbackup alone (A less B, per round)  $(printf '%7s' "$(diffs a b 3 | median)")
  zstd + age alone (C less B)          $(printf '%7s' "$(diffs c b 3 | median)")
EOF
