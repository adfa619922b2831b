#!/usr/bin/env bash
# Benchmark of what "mbackup drill" pays for starting its own server.
#
# On a throwaway PostgreSQL 15 server it loads a "pgbench -i -s SCALE"
# database and takes one snapshot of it with "mbackup backup --only
# postgres" (local store, one X25519 recipient, a signing key, the one
# database, no globals). Then it times, round after round (A B A B ...):
#
#   A  mbackup drill -i IDENTITY --dir DIR ID
#        its own PostgreSQL: initdb, start, restore, row counts, stop
#   B  mbackup verify -i IDENTITY --restore-into URL --staging DIR ID
#        the same restore and row counts into the throwaway server, which
#        already runs (verify drops its scratch database itself)
#
# and prints the median wall time of each, the median of the per-round
# ratios A/B (a drift of the machine's speed cancels out), the median of
# the per-round differences A-B (what the server's start and stop cost),
# the peak RSS of each (GNU time's "maximum resident set size": for A the
# largest of mbackup, pg_restore and the drill's own server processes) and
# the drill's table of step times from its last run. Every drill writes a
# record into the benchmark's store, which is removed on exit.
#
# The server is set as the drill's own is (internal/sandbox: fsync off,
# autovacuum on, ...), so that A and B restore into alike servers.
#
# It never touches the machine's own PostgreSQL: the server is initdb'd into
# a temporary directory, on a port number free on this machine, and is
# stopped and removed, with everything else, on exit. Everything but B
# reaches it on a Unix socket in that directory; B on 127.0.0.1 (verify's
# --restore-into takes a host:port URL, which cannot name a socket
# directory), with a random password (scram-sha-256) given to verify in
# $PGPASSWORD only. The drill's server is on its own socket under DIR.
#
# Usage: bench/drill.sh [-n RUNS] [-s SCALE] [--hold]
#   -n RUNS   measured rounds (default 5), after one warm-up round
#   -s SCALE  pgbench scale (default 50: 5 million accounts, ~750 MB)
#   --hold    set up, print the commands and the environment, and wait
#             (until Ctrl-C) instead of measuring: for profiling by hand
#
# Needs: go, PostgreSQL 15 server binaries (postgresql-15) and GNU time
# (/usr/bin/time). Run as root (the servers then run as the "postgres" OS
# user) or as any user allowed to run initdb.
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
	*) echo "drill.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
case $runs$scale in *[!0-9]*) echo "drill.sh: -n and -s take positive integers" >&2; exit 2 ;; esac
if [ "$runs" -lt 1 ] || [ "$scale" -lt 1 ]; then
	echo "drill.sh: -n and -s take positive integers" >&2
	exit 2
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

# --- prerequisites ---------------------------------------------------------
missing=()
for b in initdb pg_ctl postgres pg_dump pg_restore pgbench psql createdb; do
	[ -x "$PGBIN/$b" ] || missing+=("$PGBIN/$b (apt-get install postgresql-15)")
done
command -v go >/dev/null || missing+=("go (https://go.dev/dl/)")
[ -x /usr/bin/time ] || missing+=("/usr/bin/time (GNU time: apt-get install time)")
command -v ss >/dev/null || missing+=("ss (apt-get install iproute2)")
if [ ${#missing[@]} -gt 0 ]; then
	echo "drill.sh: missing:" >&2
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

mkdir -p "$sock" "$tmp/store" "$tmp/drill" "$tmp/staging"
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || { echo "drill.sh: run as root needs the postgres OS user (initdb refuses root)" >&2; exit 1; }
	chown postgres: "$tmp" "$sock"
	chmod 0711 "$tmp" # root and postgres reach the sockets; nobody else lists it
fi

# A port number nobody listens on: B reaches the server on 127.0.0.1 there.
port=
for _ in $(seq 50); do
	p=$((20000 + RANDOM % 40000))
	if ! ss -Htln "sport = :$p" | grep -q .; then
		port=$p
		break
	fi
done
[ -n "$port" ] || { echo "drill.sh: no free port found" >&2; exit 1; }

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- mbackup -----------------------------------------------------------------
# Built first: without a drill command there is nothing to measure.
log "go build -o $tmp/mbackup ./cmd/mbackup"
(cd "$repo" && CGO_ENABLED=0 go build -o "$tmp/mbackup" ./cmd/mbackup)
for c in drill verify; do
	if ! "$tmp/mbackup" help "$c" >/dev/null 2>&1; then
		echo "drill.sh: this mbackup has no $c command (mbackup help $c fails)" >&2
		exit 1
	fi
done

# --- server ------------------------------------------------------------------
# The password B signs in with over TCP: random, in no file but the one
# initdb reads (removed right after) and in no command line.
password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$password" >"$tmp/pwfile"
[ "$(id -u)" -ne 0 ] || chown postgres: "$tmp/pwfile"
chmod 0600 "$tmp/pwfile"
log "initdb in $data (port $port, socket $sock, TCP on 127.0.0.1 only)"
as_server "$PGBIN/initdb" -D "$data" -U postgres --pwfile="$tmp/pwfile" \
	--auth-local=trust --auth-host=scram-sha-256 \
	--no-locale -E UTF8 --no-sync --no-instructions >"$tmp/initdb.log" 2>&1 ||
	{ cat "$tmp/initdb.log" >&2; exit 1; }
rm -f "$tmp/pwfile"
cat >>"$data/postgresql.conf" <<EOF
# bench/drill.sh: private, and set as the drill's own server is
# (internal/sandbox), autovacuum included: the scratch database of B gets
# the same ANALYZE runs as A's, so only the server's start and stop differ.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 1GB
max_connections = 20
logging_collector = off
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

# --- the snapshot --------------------------------------------------------------
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
	echo "drill.sh: no postgres/bench artifact in the snapshot:" >&2
	cat "$tmp/backup.log" >&2
	exit 1
fi
if find "$tmp/store/snapshots/$id" -type f -name '*.age' | grep -qv '/postgres/bench'; then
	echo "drill.sh: the snapshot holds more than postgres/bench:" >&2
	find "$tmp/store/snapshots/$id" -type f >&2
	exit 1
fi
stored=$(du -h --apparent-size "$artifact" | cut -f1)

cmd_a=("$tmp/mbackup" --config "$tmp/mbackup.yaml" drill -i "$tmp/identity.txt"
	--dir "$tmp/drill" "$id")
cmd_b=("$tmp/mbackup" --config "$tmp/mbackup.yaml" verify -i "$tmp/identity.txt"
	--restore-into "postgres://postgres@127.0.0.1:$port/?sslmode=disable"
	--staging "$tmp/staging" "$id")

if [ "$hold" -eq 1 ]; then
	cat <<EOF
Set up: snapshot $id of database bench ($dbsize, pgbench scale $scale).
In another shell:

  export PGHOST=$sock PGPORT=$port PGUSER=postgres PATH=$PGBIN:\$PATH
  ${cmd_a[*]}
  PGPASSWORD=$password ${cmd_b[*]}

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
# stdout goes to NAME.log (the drill's table), stderr to NAME.err.
run() {
	local name=$1 t0 t1 rss
	shift
	t0=$EPOCHREALTIME
	if ! /usr/bin/time -f '%M' -o "$tmp/rss" "$@" </dev/null >"$tmp/$name.log" 2>"$tmp/$name.err"; then
		echo "drill.sh: $name failed:" >&2
		cat "$tmp/$name.log" "$tmp/$name.err" >&2
		exit 1
	fi
	t1=$EPOCHREALTIME
	rss=$(tail -n 1 "$tmp/rss")
	echo "$t0 $t1 $rss" | awk '{printf "%.3f %d\n", $2 - $1, $3}' >>"$tmp/$name.times"
}

# The times the commands print, as Go durations ("848ms", "18.3s",
# "1m2s"), in seconds. secs is an awk function for the scripts below.
secs='function secs(d,   t, n, u) {
	t = 0
	while (match(d, /^[0-9.]+(h|ms|m|s|µs|us|ns)/)) {
		n = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
		u = n; sub(/^[0-9.]+/, "", u); sub(/[a-zµ]+$/, "", n)
		t += n * (u == "h" ? 3600 : u == "m" ? 60 : u == "s" ? 1 : u == "ms" ? 1e-3 : u == "ns" ? 1e-9 : 1e-6)
	}
	return t
}'

# Untimed after each run: what the commands say of their own steps, one
# line per round. A: "start restore steps rto", the drill's server start
# and restore steps, the sum of its steps and its whole time (RTO); B:
# "restore", the time verify gives its restore and row counts.
steps() {
	case $1 in
	a) awk -F '  +' "$secs"'
		/^drill: ok: restored and checked in / {rto = secs(substr($0, index($0, " in ") + 4))}
		NF >= 4 && $2 ~ /^[a-z]+\// {t = secs($4); all += t; if ($3 == "start server") st += t; if ($3 == "restore") re += t}
		END {printf "%.3f %.3f %.3f %.3f\n", st, re, all, rto}' "$tmp/a.log" >>"$tmp/a.steps" ;;
	b) awk "$secs"'
		match($0, /restored into scratch databases in [^ ,]+/) {print secs(substr($0, RSTART + 35, RLENGTH - 35))}' \
		"$tmp/b.log" >>"$tmp/b.steps" ;;
	esac
}

# Untimed after each run: both commands check the row counts themselves
# and say so; the drill leaves nothing in DIR, verify no scratch database.
check() {
	local left
	case $1 in
	a) grep -q '^drill: ok: ' "$tmp/a.log" || { echo "drill.sh: the drill did not say ok:" >&2; cat "$tmp/a.log" "$tmp/a.err" >&2; exit 1; } ;;
	b) grep -q ': restore drill: .*: ok$' "$tmp/b.log" || { echo "drill.sh: verify did not say ok:" >&2; cat "$tmp/b.log" "$tmp/b.err" >&2; exit 1; } ;;
	esac
	left=$(find "$tmp/drill" -mindepth 1 -maxdepth 1 | head -n 1)
	[ -z "$left" ] || { echo "drill.sh: the drill left $left behind" >&2; exit 1; }
	left=$("$PGBIN/psql" -XAtq -d postgres -c "SELECT string_agg(datname, ' ') FROM pg_database WHERE datname LIKE 'mbackup\_drill\_%'")
	[ -z "$left" ] || { echo "drill.sh: verify left the databases $left behind" >&2; exit 1; }
}

# Untimed before each run: the dirty pages of the previous restore are
# written out, so every run starts from the same state.
tidy() {
	"$PGBIN/psql" -XAtq -d postgres -c 'CHECKPOINT'
	rm -rf "${tmp:?}/staging" && mkdir -p "$tmp/staging"
	sync
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "load before measuring: $load_before"
for i in $(seq 0 "$runs"); do
	if [ "$i" -eq 0 ]; then log "warm-up round"; else log "round $i/$runs"; fi
	for name in a b; do
		tidy
		case $name in
		a) run a "${cmd_a[@]}" ;;
		b) PGPASSWORD=$password run b "${cmd_b[@]}" ;;
		esac
		check "$name"
		steps "$name"
		log "  $name $(tail -n 1 "$tmp/$name.times" | cut -d' ' -f1) s"
	done
	if [ "$i" -eq 0 ]; then
		rm -f "$tmp"/[ab].times "$tmp"/[ab].steps
	fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
records=$(find "$tmp/store/drills" -name '*.json' -type f 2>/dev/null | wc -l)

median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
col() { awk -v c="$2" '{print $c}' "$tmp/$1.times"; }
ratios() { paste -d' ' "$tmp/$1.times" "$tmp/$2.times" | awk '{printf "%.4f\n", $1 / $3}'; }
diffs() { paste -d' ' "$tmp/$1.times" "$tmp/$2.times" | awk '{printf "%.3f\n", $1 - $3}'; }
minmax() { sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%s..%s", lo, hi}'; }

wall_a=$(col a 1 | median)
wall_b=$(col b 1 | median)
ratio_ab=$(ratios a b | median)
diff_ab=$(diffs a b | median)
rss_a=$(col a 2 | sort -n | tail -n 1)
rss_b=$(col b 2 | sort -n | tail -n 1)

# A's and B's times as the commands give them, medians over the rounds.
scol() { awk -v c="$2" '{print $c}' "$tmp/$1.steps"; }
a_start=$(scol a 1 | median)
a_restore=$(scol a 2 | median)
a_rest=$(awk '{printf "%.3f\n", $4 - $3}' "$tmp/a.steps" | median)
a_outside=$(paste -d' ' "$tmp/a.times" "$tmp/a.steps" | awk '{printf "%.3f\n", $1 - $6}' | median)
b_restore=$(scol b 1 | median)
b_outside=$(paste -d' ' "$tmp/b.times" "$tmp/b.steps" | awk '{printf "%.3f\n", $1 - $3}' | median)
sec() { awk -v x="$1" 'BEGIN {printf "%7.3f", x}'; }

mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }

cat <<EOF

mbackup drill (its own PostgreSQL) vs mbackup verify --restore-into (a running one)
  database:  pgbench -i -s $scale ($dbsize), PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), local store
  snapshot:  $id, postgres/bench only, $stored stored (zstd, age)
  machine:   $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM
  runs:      $runs rounds (A B in turn) after 1 warm-up round
  load:      before $load_before, after $load_after (1/5/15 min)

  wall time, seconds                                   median    min..max
  A mbackup drill --dir DIR                            $(printf '%7s' "$wall_a")   $(col a 1 | minmax)
  B mbackup verify --restore-into URL --staging DIR    $(printf '%7s' "$wall_b")   $(col b 1 | minmax)

  A/B  $ratio_ab   per round: $(ratios a b | tr '\n' ' ')
  A-B  $diff_ab s (the server's start and stop)   per round: $(diffs a b | tr '\n' ' ')

  where the time goes, as the commands report it (medians, seconds)
    A  server start (initdb, start, ready)               $(sec "$a_start")
    A  restore and row counts, own server                $(sec "$a_restore")
    B  read back, restore, row counts, running server    $(sec "$b_restore")
    A  rest of the drill: artifacts check, stop, removal $(sec "$a_rest")
    A  outside the drill: authenticate, record, exit     $(sec "$a_outside")
    B  outside: read back, authenticate, drop database   $(sec "$b_outside")

  peak RSS of A  $(mib "$rss_a")
    the largest of mbackup, pg_restore and the drill's server processes;
    B (mbackup and pg_restore, the server is not its child) peaks at $(mib "$rss_b")

  drill records written into the store: $records

  the drill's output of its last run:
$(sed 's/^/    /' "$tmp/a.log")
EOF
