#!/usr/bin/env bash
# Runs every fuzz target (func FuzzX in a _test.go file) of the module, or
# of the packages given, for a short time each, one after the other. Exits
# non-zero when a target fails; go test has then written the failing input
# under the package's testdata/fuzz/FuzzX/ (commit it with the fix).
#
#   scripts/fuzz.sh [-t 10s] [PACKAGE...]
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=10s
while getopts 't:h' opt; do
  case $opt in
    t) fuzztime=$OPTARG ;;
    *) echo "usage: scripts/fuzz.sh [-t 10s] [PACKAGE...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

if (($#)); then
  pkgs=("$@")
else
  # The directories with a fuzz target; go test -list then names them.
  mapfile -t pkgs < <(grep -rlE --include='*_test.go' --exclude-dir=.git --exclude-dir=testdata \
    '^func Fuzz[A-Z0-9_]' . | xargs -r -n1 dirname | sort -u)
fi
if ((${#pkgs[@]} == 0)); then
  echo "fuzz: no fuzz targets"; exit 0
fi

# fuzz_once runs one target. Go 1.26's fuzzing coordinator can fail a
# target with a bare "context deadline exceeded" when -fuzztime ends while
# a worker is busy (go.dev/issue/75804, fixed in Go 1.27): no input failed
# and none was written. Such a run is made once more; a real failure writes
# its input under testdata/fuzz/ and is never retried.
fuzz_once() {
  local out rc
  for attempt in 1 2; do
    rc=0
    out=$(go test -run '^$' -fuzz "^$2\$" -fuzztime "$fuzztime" "$1" 2>&1) || rc=$?
    echo "$out"
    if ((rc == 0)); then return 0; fi
    if ((attempt == 1)) && grep -q '^    context deadline exceeded$' <<<"$out" &&
      ! grep -q 'Failing input written to' <<<"$out"; then
      echo "fuzz: $1 $2 ended on Go's fuzztime deadline race with no failing input; once more"
      continue
    fi
    return 1
  done
}

failed=()
ran=0
for pkg in "${pkgs[@]}"; do
  if ! list=$(go test -list '^Fuzz' "$pkg"); then
    echo "$list"
    failed+=("$pkg (does not build)")
    continue
  fi
  for target in $(grep -E '^Fuzz' <<<"$list" || true); do
    echo "fuzz: $pkg $target for $fuzztime"
    ran=$((ran + 1))
    if ! fuzz_once "$pkg" "$target"; then
      failed+=("$pkg $target")
    fi
  done
done

if ((${#failed[@]})); then
  echo "fuzz: FAIL:"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
echo "fuzz: $ran targets passed"
