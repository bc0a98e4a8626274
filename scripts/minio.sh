#!/usr/bin/env bash
# Builds the MinIO server the tiering tests run against, once, and caches it.
# Idempotent: prints the binary's path and exits at once when it is already
# built at the pinned version.
#
#   scripts/minio.sh            build if needed, print the path
#   STRATA_MINIO_BIN=... go test ./tiering/...   (the tests find the default
#                                                 path by themselves)
#
# The binary goes to $STRATA_CACHE_DIR/bin/minio (default
# $HOME/.cache/strata/bin/minio), which is where the tests look for it.
# Building takes ~150 s and ~1.5 GiB of module downloads the first time.
set -euo pipefail

MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
CACHE_DIR="${STRATA_CACHE_DIR:-$HOME/.cache/strata}"
BIN_DIR="$CACHE_DIR/bin"
BIN="$BIN_DIR/minio"
STAMP="$BIN_DIR/minio.version"

log() { echo "minio: $*" >&2; }

if [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$MINIO_VERSION" ]]; then
	echo "$BIN"
	exit 0
fi

mkdir -p "$BIN_DIR"
log "building github.com/minio/minio@$MINIO_VERSION into $BIN_DIR (takes a few minutes)"
# A temporary GOBIN, then an atomic rename: a build interrupted halfway never
# leaves a binary that looks complete.
tmp="$(mktemp -d "$BIN_DIR/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# Outside any module, so the project's go.mod is not involved.
(cd "$tmp" && CGO_ENABLED=0 GOFLAGS= GOBIN="$tmp" go install -trimpath "github.com/minio/minio@$MINIO_VERSION")
mv -f "$tmp/minio" "$BIN"
echo "$MINIO_VERSION" >"$STAMP.tmp"
mv -f "$STAMP.tmp" "$STAMP"
log "built $BIN"
echo "$BIN"
