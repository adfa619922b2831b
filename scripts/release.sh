#!/usr/bin/env bash
# Builds the release binaries: static (CGO_ENABLED=0) linux/amd64 and
# linux/arm64 executables of cmd/mbackup in dist/, stamped with the version,
# commit and build date that "mbackup version" prints, and dist/SHA256SUMS.
#
#   scripts/release.sh [-o DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

out=dist
while getopts 'o:h' opt; do
  case $opt in
    o) out=$OPTARG ;;
    *) echo "usage: scripts/release.sh [-o DIR]" >&2; exit 2 ;;
  esac
done

version=$(git describe --tags --always --dirty)
commit=$(git rev-parse HEAD)
# The commit's time keeps a rebuild of the same commit byte-identical;
# SOURCE_DATE_EPOCH overrides it.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}
date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

ldflags="-s -w -X main.version=$version -X main.commit=$commit -X main.date=$date"

mkdir -p "$out"
rm -f "$out"/mbackup-linux-* "$out/SHA256SUMS"
for arch in amd64 arm64; do
  bin=mbackup-linux-$arch
  echo "release: $out/$bin ($version)"
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch \
    go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out/$bin" ./cmd/mbackup
done
(cd "$out" && sha256sum mbackup-linux-amd64 mbackup-linux-arm64 >SHA256SUMS)
cat "$out/SHA256SUMS"
