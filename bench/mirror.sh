#!/usr/bin/env bash
# Benchmark of the incremental media mirror (internal/mediasync) against
# rclone and a bare listing.
#
# On a throwaway versitygw (posix backend, 127.0.0.1, plain HTTP) whose
# bucket "src" holds OBJECTS Mastodon-like objects of 1 to 4 KiB, it
# measures, with bench/mirrorbench (which calls mediasync.Mirror as
# "mbackup mirror" does, with the requests of both sides counted):
#
#   first runs, once each, into empty destinations:
#     A  mediasync -> s3 store (a second bucket on the same versitygw),
#        once through the counting proxy and once without, into another
#        bucket (the proxy runs in the mirror's process and slows it)
#     B  mediasync -> b2 store (internal/b2test's fake B2, its own process)
#     R  rclone sync --checksum --fast-list src -> a third bucket
#   then RUNS rounds of no-op runs (L A B R in turn):
#     L  a bare ListObjectsV2 loop over src (the floor)
#     A, B, R again, with nothing to copy
#     P  the parts of A's no-op run timed one by one (source listing, store
#        listing, index download, index upload)
#   and, once, a dry run of a synthetic SYNTH-object listing (a server that
#   makes up ListObjectsV2 pages) against an empty local store.
#
# It prints the wall times (medians over the rounds), the request counts
# (a counting transport on the source, a counting proxy in front of the s3
# store for one first and one no-op run, the fake B2's own log), the peak
# RSS of each process (GNU time's "maximum resident set size"), the ratios
# A/R and A/L (medians of the per-round ratios, so a drift of the machine's
# speed cancels out) and which targets were met.
#
# The seeded source is cached (see MBACKUP_BENCH_CACHE below) and reused by
# the next run with the same OBJECTS; the destination buckets, the fake B2
# and everything else are removed on exit (a few minutes for 100,000
# objects). A run with --objects 100000 --rclone-slow takes about 45 minutes
# on 2 vCPUs, 10 of them the first run into the s3 store.
#
# Then the scenarios of issue 19, each on its own small bucket (seeded once
# into the cache beside "src", or "src" itself when the sizes agree) and
# into its own destination bucket, with mirrorbench's flags:
#   S1 rate limit: a first copy of SCEN objects at max_requests_per_second
#      100, the source behind a counting proxy in mirrorbench's process
#      that timestamps every request: the most requests in any 1-second
#      window (the limit allows 100 + the burst), the mean rate, and the
#      objects lost (the destination listed against the source)
#   S2 429s: a first copy of FAULT objects at 100 requests per second, the
#      proxy answering 10 % of the object GETs with 429 and Retry-After: 2:
#      objects lost (must be 0), the wall, and the wall the limit predicts
#      (the requests at 100/s, or at the lowest rate the limiter adapted
#      down to, plus 2 to 2.5 s per pause of the run)
#   S3 exclude: SCEN objects, 80 % of them under cache/, with exclude
#      [cache/], into a store that already holds one cache/ object: what is
#      copied, then a second run with delete on: that object is still there
#   S4 interrupted first copy: SCEN objects, SIGTERM (mirrorbench sends it
#      to itself) once half are copied, then a second run: objects copied
#      twice (copied by the second run although stored by the first) and
#      the second run's wall
#   S5 the copier's objects per second without a limit (first run A, no
#      proxy), and the --dry-run estimate (mbackup's formula) for a
#      synthetic listing of ESTIMATE objects at 200 requests per second
#
# Usage: bench/mirror.sh [-n RUNS] [--objects N] [--synth N] [--rclone-slow]
#          [--scenarios-objects SCEN] [--fault-objects FAULT] [--estimate-objects ESTIMATE]
#   -n RUNS        no-op rounds (default 3)
#   --objects N    objects in the source (default 100000)
#   --synth N      objects of the synthetic listing (default 1000000; 0 skips)
#   --rclone-slow  also time, once, rclone's no-op without --fast-list (one
#                  listing per directory) and in its default mode (size and
#                  modification time, a HEAD per object): minutes each
#   --scenarios-objects SCEN
#                  objects of scenarios S1, S3 and S4 (default 20000, at most
#                  N; 0 skips all scenarios). S1 alone takes SCEN / 100 s
#   --fault-objects FAULT
#                  objects of S2 (default 300: about 35 pauses of 2 to 2.5 s)
#   --estimate-objects ESTIMATE
#                  the synthetic listing of S5 (default 2400000; 0 skips)
#
# Environment: MBACKUP_BENCH_CACHE is where the seeded source is kept
# (default ~/.cache/mbackup-bench); it takes about 1 GiB per 100,000 objects
# (one directory chain per object).
#
# Needs: go, versitygw v1.8.0 in PATH or ~/go/bin (go install
# github.com/versity/versitygw/cmd/versitygw@v1.8.0), rclone (apt-get install
# rclone), GNU time (/usr/bin/time: apt-get install time), ss (iproute2), and
# a file system for the cache with user extended attributes (ext4, xfs, tmpfs).
set -euo pipefail

runs=3
objects=100000
synth=1000000
rclone_slow=0
scen=20000
fault=300
estimate=2400000
while [ $# -gt 0 ]; do
	case $1 in
	-n) runs=${2:?-n needs a number}; shift 2 ;;
	--objects) objects=${2:?--objects needs a number}; shift 2 ;;
	--synth) synth=${2:?--synth needs a number}; shift 2 ;;
	--scenarios-objects) scen=${2:?--scenarios-objects needs a number}; shift 2 ;;
	--fault-objects) fault=${2:?--fault-objects needs a number}; shift 2 ;;
	--estimate-objects) estimate=${2:?--estimate-objects needs a number}; shift 2 ;;
	--rclone-slow) rclone_slow=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "mirror.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
case $runs$objects$synth$scen$fault$estimate in *[!0-9]*) echo "mirror.sh: -n, --objects, --synth and the scenarios' counts take integers" >&2; exit 2 ;; esac
if [ "$runs" -lt 1 ] || [ "$objects" -lt 1 ]; then
	echo "mirror.sh: -n and --objects take positive integers" >&2
	exit 2
fi
[ "$scen" -le "$objects" ] || scen=$objects

repo=$(cd "$(dirname "$0")/.." && pwd)

# --- prerequisites ---------------------------------------------------------
missing=()
command -v go >/dev/null || missing+=("go (https://go.dev/dl/)")
vgw=$(command -v versitygw || true)
[ -n "$vgw" ] || { [ -x "${GOBIN:-$HOME/go/bin}/versitygw" ] && vgw=${GOBIN:-$HOME/go/bin}/versitygw; } ||
	missing+=("versitygw (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
command -v rclone >/dev/null || missing+=("rclone (apt-get install rclone)")
[ -x /usr/bin/time ] || missing+=("/usr/bin/time (GNU time: apt-get install time)")
command -v ss >/dev/null || missing+=("ss (apt-get install iproute2)")
if [ ${#missing[@]} -gt 0 ]; then
	echo "mirror.sh: missing:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	exit 1
fi

# --- the temporary directory, the cache and the cleanup ---------------------
tmp=$(mktemp -d /tmp/mbackup-mirror-bench.XXXXXX)
cache=${MBACKUP_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mbackup-bench}/mirror-$objects
root=$cache/root # versitygw's root: bucket "src" (cached) and the destinations
pids=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp" "$root"/dst-* "$root"/.sgwtmp
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

freeport() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		if ! ss -Htln "sport = :$p" | grep -q .; then
			echo "$p"
			return
		fi
	done
	echo "mirror.sh: no free port found" >&2
	exit 1
}

# --- build -------------------------------------------------------------------
log "go build -o $tmp/mirrorbench ./bench/mirrorbench"
(cd "$repo" && CGO_ENABLED=0 go build -o "$tmp/mirrorbench" ./bench/mirrorbench)
mb=$tmp/mirrorbench

# --- versitygw with the seeded source -----------------------------------------
export BENCH_S3_KEY=mbackupbench BENCH_S3_SECRET=mbackupbench-secret-key-0123
seeded=$cache/seeded # holds the object count once a seeding has completed
if [ "$(cat "$seeded" 2>/dev/null)" != "$objects" ]; then
	rm -rf "$cache"
fi
mkdir -p "$root"
rm -rf "$root"/dst-* "$root"/.sgwtmp # left by a run that was killed

port=$(freeport)
ep=127.0.0.1:$port
ROOT_ACCESS_KEY_ID=$BENCH_S3_KEY ROOT_SECRET_ACCESS_KEY=$BENCH_S3_SECRET \
	"$vgw" --port "$ep" --region us-east-1 --quiet posix "$root" >"$tmp/versitygw.log" 2>&1 &
pids+=($!)
s3=(-src-endpoint "$ep")
for i in $(seq 100); do
	"$mb" mkbucket "${s3[@]}" src dst-mb dst-mb2 dst-rc 2>"$tmp/mkbucket.err" && break
	[ "$i" -lt 100 ] || { cat "$tmp/mkbucket.err" "$tmp/versitygw.log" >&2; exit 1; }
	sleep 0.2
done
if [ ! -e "$seeded" ]; then
	log "seeding $objects objects into $root/src (kept for the next run)"
	"$mb" seed -dir "$root/src" -n "$objects" >"$tmp/seed.out"
	echo "$objects" >"$seeded"
fi
"$mb" list "${s3[@]}" -src-bucket src >"$tmp/check.out"
got=$(sed -n 's/.* objects=\([0-9]*\) .*/\1/p' "$tmp/check.out")
srcbytes=$(sed -n 's/.* bytes=\([0-9]*\) .*/\1/p' "$tmp/check.out")
[ "$got" = "$objects" ] || { echo "mirror.sh: the source lists $got objects, not $objects" >&2; exit 1; }

# --- the fake B2 -----------------------------------------------------------------
"$mb" serve-b2 -bucket mirror >"$tmp/b2.out" 2>"$tmp/b2.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/b2.out" ] && break; sleep 0.1; done
b2url=$(sed -n 's/.*url=\([^ ]*\).*/\1/p' "$tmp/b2.out")
b2key=$(sed -n 's/.*key=\([^ ]*\).*/\1/p' "$tmp/b2.out")
b2ctl=$(sed -n 's/.*control=\([^ ]*\).*/\1/p' "$tmp/b2.out")
BENCH_B2_APPKEY=$(sed -n 's/.*app=\([^ ]*\).*/\1/p' "$tmp/b2.out")
export BENCH_B2_APPKEY
[ -n "$b2ctl" ] || { cat "$tmp/b2.err" >&2; exit 1; }

# --- the commands ------------------------------------------------------------------
cmd_a=("$mb" mirror "${s3[@]}" -src-bucket src -dst s3 -dst-endpoint "$ep" -dst-bucket dst-mb)
cmd_a2=("$mb" mirror "${s3[@]}" -src-bucket src -dst s3 -dst-endpoint "$ep" -dst-bucket dst-mb2)
cmd_b=("$mb" mirror "${s3[@]}" -src-bucket src -dst b2 -b2-url "$b2url" -b2-key "$b2key" -b2-bucket mirror -b2-control "$b2ctl")
cmd_l=("$mb" list "${s3[@]}" -src-bucket src)
cmd_p=("$mb" parts "${s3[@]}" -src-bucket src -dst-endpoint "$ep" -dst-bucket dst-mb)
touch "$tmp/rclone.conf"
rclone_env=(env -u AWS_CA_BUNDLE RCLONE_CONFIG="$tmp/rclone.conf"
	RCLONE_CONFIG_VGW_TYPE=s3 RCLONE_CONFIG_VGW_PROVIDER=Other RCLONE_CONFIG_VGW_ENDPOINT="http://$ep"
	RCLONE_CONFIG_VGW_ACCESS_KEY_ID="$BENCH_S3_KEY" RCLONE_CONFIG_VGW_SECRET_ACCESS_KEY="$BENCH_S3_SECRET"
	RCLONE_CONFIG_VGW_REGION=us-east-1)
cmd_r=("${rclone_env[@]}" rclone sync --checksum --fast-list --s3-no-check-bucket vgw:src vgw:dst-rc)
cmd_rd=("${rclone_env[@]}" rclone sync --checksum --s3-no-check-bucket vgw:src vgw:dst-rc)
cmd_rm=("${rclone_env[@]}" rclone sync --fast-list --s3-no-check-bucket vgw:src vgw:dst-rc)

# run NAME CMD...: runs CMD once and appends "wall_seconds max_rss_kib" and
# then CMD's last stdout line to $tmp/NAME.times; a failure stops the
# benchmark with the command's output.
run() {
	local name=$1 t0 t1 rss
	shift
	t0=$EPOCHREALTIME
	if ! /usr/bin/time -f '%M' -o "$tmp/rss" "$@" >"$tmp/cmd.out" 2>"$tmp/cmd.err"; then
		echo "mirror.sh: $name failed:" >&2
		cat "$tmp/cmd.out" "$tmp/cmd.err" >&2
		exit 1
	fi
	t1=$EPOCHREALTIME
	rss=$(tail -n 1 "$tmp/rss")
	printf '%s %s %s %s\n' "$t0" "$t1" "$rss" "$(tail -n 1 "$tmp/cmd.out")" |
		awk '{printf "%.3f %d", $2 - $1, $3; for (i = 4; i <= NF; i++) printf " %s", $i; print ""}' >>"$tmp/$name.times"
	log "  $name: $(tail -n 1 "$tmp/$name.times")"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "load before measuring: $load_before"

log "first runs ($objects objects, $((srcbytes / 1048576)) MiB)"
run a1 "${cmd_a[@]}" -count
run a2 "${cmd_a2[@]}"
run b1 "${cmd_b[@]}"
run r1 "${cmd_r[@]}"
log "counted no-op run of A"
run a0 "${cmd_a[@]}" -count

for i in $(seq "$runs"); do
	log "no-op round $i/$runs"
	run l "${cmd_l[@]}"
	run a "${cmd_a[@]}"
	run b "${cmd_b[@]}"
	run r "${cmd_r[@]}"
	run p "${cmd_p[@]}"
done

log "one no-op run of A with the s3 store's smallest part size (5 MiB)"
run a5 "${cmd_a[@]}" -part-size 5242880

if [ "$rclone_slow" -eq 1 ]; then
	log "rclone no-op without --fast-list, and in its default mode"
	run rd "${cmd_rd[@]}"
	run rm "${cmd_rm[@]}"
fi

if [ "$synth" -gt 0 ]; then
	log "synthetic listing of $synth objects, dry run into an empty local store"
	"$mb" serve-synth -n "$synth" >"$tmp/synth.out" 2>"$tmp/synth.err" &
	pids+=($!)
	for _ in $(seq 100); do [ -s "$tmp/synth.out" ] && break; sleep 0.1; done
	sep=$(sed -n 's/.*endpoint=\([^ ]*\).*/\1/p' "$tmp/synth.out")
	mkdir -p "$tmp/empty"
	run s "$mb" mirror -src-endpoint "$sep" -src-bucket synth -dst local -local "$tmp/empty" -dry-run
fi
# seed_bucket NAME N [CACHE_PCT]: a bucket of N fixture objects (with
# CACHE_PCT percent of cache/ keys), seeded once and kept in the cache.
seed_bucket() {
	local name=$1 n=$2 pct=${3:--1}
	"$mb" mkbucket "${s3[@]}" "$name"
	if [ "$(cat "$cache/seeded-$name" 2>/dev/null)" != "$n" ]; then
		log "seeding $n objects into $root/$name (kept for the next run)"
		"$mb" seed -dir "$root/$name" -n "$n" -cache-pct "$pct" >/dev/null
		echo "$n" >"$cache/seeded-$name"
	fi
}

# the first part of a scenario's mirror into the s3 store; the source and
# destination buckets follow
mir=("$mb" mirror "${s3[@]}" -dst s3 -dst-endpoint "$ep")

if [ "$scen" -gt 0 ]; then
	sb=src
	[ "$scen" -eq "$objects" ] || { sb=scen-$scen; seed_bucket "$sb" "$scen"; }
	seed_bucket "c80-$scen" "$scen" 80
	[ "$fault" -eq 0 ] || seed_bucket "f429-$fault" "$fault"
	"$mb" mkbucket "${s3[@]}" dst-s1 dst-s2 dst-s3 dst-s4

	log "S1: first copy of $scen objects at max_requests_per_second 100"
	run s1 "${mir[@]}" -src-bucket "$sb" -dst-bucket dst-s1 -rps 100 -verify
	if [ "$fault" -gt 0 ]; then
		log "S2: first copy of $fault objects at 100/s, 10 % of the GETs answered 429 with Retry-After: 2"
		run s2 "${mir[@]}" -src-bucket "f429-$fault" -dst-bucket dst-s2 -rps 100 -fault-429 10 -retry-after 2 -verify
	fi
	log "S3: exclude [cache/] on $scen objects, 80 % cache/, a cache/ object already in the store"
	run s3a "${mir[@]}" -src-bucket "c80-$scen" -dst-bucket dst-s3 -exclude cache/ -put-store media/cache/bench-seeded.png -verify
	run s3b "${mir[@]}" -src-bucket "c80-$scen" -dst-bucket dst-s3 -exclude cache/ -delete -max-delete 1000000 -has-store media/cache/bench-seeded.png
	log "S4: first copy of $scen objects interrupted by SIGTERM at half, then resumed"
	run s4a "${mir[@]}" -src-bucket "$sb" -dst-bucket dst-s4 -stop-after $((scen / 2)) -verify
	run s4b "${mir[@]}" -src-bucket "$sb" -dst-bucket dst-s4 -verify
	if [ "$estimate" -gt 0 ]; then
		log "S5: dry run of a synthetic listing of $estimate objects, estimate at 200/s"
		"$mb" serve-synth -n "$estimate" >"$tmp/synth-est.out" 2>"$tmp/synth-est.err" &
		pids+=($!)
		for _ in $(seq 100); do [ -s "$tmp/synth-est.out" ] && break; sleep 0.1; done
		sep=$(sed -n 's/.*endpoint=\([^ ]*\).*/\1/p' "$tmp/synth-est.out")
		mkdir -p "$tmp/empty-est"
		run s5 "$mb" mirror -src-endpoint "$sep" -src-bucket synth -dst local -local "$tmp/empty-est" -dry-run -estimate-rps 200
	fi
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ------------------------------------------------------------------------
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
col() { awk -v c="$2" '{print $c}' "$tmp/$1.times"; }
# field NAME KEY: the values of KEY=... in NAME's lines
field() { awk -v k="$2" '{for (i = 3; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2)}' "$tmp/$1.times"; }
ratios() { paste -d' ' "$tmp/$1.times" "$tmp/$2.times" | awk -v n="$(awk 'NR == 1 {print NF}' "$tmp/$1.times")" '{printf "%.3f\n", $1 / $(n + 1)}'; }
minmax() { sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%s..%s", lo, hi}'; }
maxrss() { col "$1" 2 | sort -n | tail -n 1 | awk '{printf "%.1f MiB", $1 / 1024}'; }
verdict() { awk -v x="$1" -v t="$2" 'BEGIN {print (x <= t ? "met" : "MISSED")}'; }
reqs() { printf 'list %s, other %s (source); list %s, other %s (destination)' \
	"$(field "$1" src_list | head -n 1)" "$(field "$1" src_other | head -n 1)" \
	"$(field "$1" dst_list | head -n 1)" "$(field "$1" dst_other | head -n 1)"; }
row() { printf '  %-44s %8s   %-17s %s\n' "$1" "$(col "$2" 1 | median)" "$(col "$2" 1 | minmax)" "$(maxrss "$2")"; }

wall_a=$(col a 1 | median)
wall_r=$(col r 1 | median)
wall_l=$(col l 1 | median)
ratio_ar=$(ratios a r | median)
ratio_al=$(ratios a l | median)
rss_a=$(col a 2 | sort -n | tail -n 1)

cat <<EOF

media mirror (internal/mediasync) vs rclone and a bare listing
  source:   versitygw ($vgw) posix backend, $objects objects, $srcbytes bytes (1-4 KiB each)
  rclone:   $(rclone version 2>/dev/null | head -n 1)
  machine:  $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM
  runs:     first runs once; $runs no-op rounds (L A B R P in turn)
  load:     before $load_before, after $load_after (1/5/15 min)

  first run, wall seconds                         wall      peak RSS
  A mediasync -> s3 store (counting proxy)     $(printf '%8s' "$(col a1 1)")   $(maxrss a1)
      $(reqs a1)
  A mediasync -> s3 store (no proxy)           $(printf '%8s' "$(col a2 1)")   $(maxrss a2)
  B mediasync -> b2 store (fake B2)            $(printf '%8s' "$(col b1 1)")   $(maxrss b1)
      $(reqs b1)
  R rclone sync --checksum --fast-list         $(printf '%8s' "$(col r1 1)")   $(maxrss r1)

  no-op run, wall seconds                        median   min..max          peak RSS
$(row "L bare ListObjectsV2 of src" l)
$(row "A mediasync -> s3 store" a)
$(row "B mediasync -> b2 store (fake B2)" b)
$(row "R rclone sync --checksum --fast-list" r)
EOF
if [ "$rclone_slow" -eq 1 ]; then
	row "rclone sync --checksum (no --fast-list)" rd
	row "rclone sync (size and modtime)" rm
fi
cat <<EOF
  requests of a no-op run:
      A: $(reqs a0) (counting proxy)
      B: $(reqs b)
      L: list $(field l src_list | head -n 1)
  parts of A's no-op run, one by one (median seconds):
      source listing $(field p src_list | median), store listing $(field p dst_list | median),
      index download $(field p index_get | median), index upload $(field p index_put | median) ($(field p index_bytes | head -n 1) bytes; a run that changes
      nothing does not upload it)
  in-run time of A (Mirror call only): $(field a wall | median) s
  A once with the s3 store's part size at 5 MiB instead of 16 MiB: $(col a5 1) s, peak RSS $(maxrss a5)

  A/R  $ratio_ar  (target <= 1.0: $(verdict "$ratio_ar" 1.0))   per round: $(ratios a r | tr '\n' ' ')
  A/L  $ratio_al  (target <= 1.2: $(verdict "$ratio_al" 1.2))   per round: $(ratios a l | tr '\n' ' ')
  peak RSS of A's no-op runs  $(awk -v k="$rss_a" 'BEGIN {printf "%.1f MiB", k / 1024}')  (target <= 32 MiB: $(verdict "$rss_a" 32768))
EOF
if [ "$synth" -gt 0 ]; then
	rss_s=$(col s 2)
	cat <<EOF

  synthetic listing of $synth objects, dry run, empty local store
      wall $(col s 1) s, peak RSS $(maxrss s) (target < 100 MiB: $(verdict "$rss_s" 102399)), $(field s src_list) list requests
EOF
fi
echo "  (medians: $wall_a s A, $wall_r s R, $wall_l s L)"

# v NAME KEY: the first value of KEY=... in NAME's lines
v() { field "$1" "$2" | head -n 1; }
if [ "$scen" -gt 0 ]; then
	burst=$(v s1 burst)
	cat <<EOF

scenarios (issue 19)
  S1 rate limit 100/s: $scen objects copied in $(v s1 wall) s, $(($(v s1 src_list) + $(v s1 src_other))) source requests;
      at most $(v s1 src_max_1s) in any 1-second window (limit 100 + burst $burst: $(verdict "$(v s1 src_max_1s)" $((100 + burst)))),
      mean $(v s1 src_mean_rps)/s; objects lost $(v s1 lost) (goal 0: $(verdict "$(v s1 lost)" 0))
EOF
	if [ "$fault" -gt 0 ]; then
		reqs2=$(($(v s2 src_list) + $(v s2 src_other)))
		cat <<EOF
  S2 429 on 10 % of GETs, Retry-After 2, at 100/s: $fault objects, $(v s2 src_429) answered 429, $(v s2 pauses) pauses,
      the rate lowered to $(v s2 lowest_rps)/s at most; objects lost $(v s2 lost) (goal 0: $(verdict "$(v s2 lost)" 0)); wall $(v s2 wall) s,
      predicted $(awk -v r="$reqs2" -v p="$(v s2 pauses)" -v lo="$(v s2 lowest_rps)" 'BEGIN {printf "%.1f to %.1f s", r / 100 + 2 * p, r / lo + 2.5 * p}')
      ($reqs2 source requests at 100/s, or at the lowest rate, plus 2 to 2.5 s a pause)
EOF
	fi
	twice=$(($(v s4b copied) - $(v s4a lost)))
	cat <<EOF
  S3 exclude [cache/], $scen objects, 80 % cache/: copied $(v s3a copied), listed $(v s3a listed), lost $(v s3a lost);
      second run with delete: deleted $(v s3b deleted), the seeded cache/ object kept: has_key=$(v s3b has_key)
      (goal 1: $(verdict 1 "$(v s3b has_key)")), excluded $(v s3b excluded) store object(s)
  S4 SIGTERM at half: the first run copied $(v s4a copied) in $(v s4a wall) s (interrupted=$(v s4a interrupted)), $(v s4a dst_objects) stored;
      second run $(v s4b wall) s: copied $(v s4b copied), adopted $(v s4b adopted), lost $(v s4b lost);
      copied twice $twice (goal 0: $(verdict "$twice" 0))
  S5 the copier without a limit (first run A, no proxy): $(awk -v n="$(v a2 copied)" -v w="$(v a2 wall)" 'BEGIN {printf "%.0f", n / w}') objects/s
EOF
	if [ "$estimate" -gt 0 ]; then
		echo "      --dry-run estimate, $estimate objects (synthetic listing) at 200/s: $(v s5 est_s) s ($(awk -v s="$(v s5 est_s)" 'BEGIN {printf "%.1f h", s / 3600}')); that dry run: $(v s5 wall) s, $(maxrss s5)"
	fi
fi
