#!/usr/bin/env bash
# Builds the container images of compose.yaml and integration/ locally,
# FROM scratch, out of static (CGO_ENABLED=0) binaries. No registry needed.
#
#   images/build.sh                  strata, minio and etcd
#   images/build.sh strata           only the named ones
#
# Image names (what `make images` passes; compose.yaml and the integration
# tests read the same names from STRATA_IMAGE / MINIO_IMAGE / ETCD_IMAGE):
#   LOCAL_STRATA_IMAGE  default strata:dev        (strata serve + strata-init)
#   LOCAL_MINIO_IMAGE   default strata-minio:dev  (scripts/minio.sh's pinned MinIO)
#   LOCAL_ETCD_IMAGE    default strata-etcd:dev   (images/etcd, etcd at go.mod's version)
#
# The pinned binaries (MinIO, etcd) are built once and cached in
# $STRATA_CACHE_DIR/bin (default ~/.cache/strata/bin); strata is rebuilt every
# time (Go's build cache makes that quick). Each image is built from a small
# temporary context holding only its files (never the repository), and is
# labelled with the hash of that context: an image whose inputs did not
# change is not rebuilt.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
CACHE_DIR="${STRATA_CACHE_DIR:-$HOME/.cache/strata}"
BIN_DIR="$CACHE_DIR/bin"
LOCAL_STRATA_IMAGE="${LOCAL_STRATA_IMAGE:-strata:dev}"
LOCAL_MINIO_IMAGE="${LOCAL_MINIO_IMAGE:-strata-minio:dev}"
LOCAL_ETCD_IMAGE="${LOCAL_ETCD_IMAGE:-strata-etcd:dev}"
GO="${GO:-go}"
LABEL=org.stratalog.context-sha256

log() { echo "images: $*" >&2; }

if ! docker info >/dev/null 2>&1; then
	log "no Docker engine answers (docker info failed)"
	exit 1
fi
mkdir -p "$BIN_DIR"

work="$(mktemp -d "${TMPDIR:-/tmp}/strata-images.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# newctx NAME: a build context with the Dockerfile, an empty data/ and
# rootfs.tar holding /tmp (sticky, world-writable: ADD extracts a tar with
# its modes, where COPY of a directory would not keep them).
newctx() {
	local ctx="$work/$1"
	mkdir -p "$ctx/rootfs/tmp" "$ctx/data"
	chmod 1777 "$ctx/rootfs/tmp"
	tar -C "$ctx/rootfs" --numeric-owner --owner=0 --group=0 --mtime=@0 -cf "$ctx/rootfs.tar" tmp
	rm -rf "$ctx/rootfs"
	cp "images/$1/Dockerfile" "$ctx/Dockerfile"
	echo "$ctx"
}

# place SRC DST: hard link when possible (big binaries), else copy.
place() { ln -f "$1" "$2" 2>/dev/null || cp -f "$1" "$2"; }

# build IMAGE CTX: docker build unless IMAGE exists with the same context hash.
build() {
	local image="$1" ctx="$2" sum have
	sum="$(cd "$ctx" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
	have="$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$image" 2>/dev/null || true)"
	if [[ "$have" == "$sum" ]]; then
		log "$image is up to date"
		return
	fi
	log "building $image"
	# The classic builder (no buildx needed); its deprecation notice is
	# noise, so the output is shown only when the build fails.
	if ! DOCKER_BUILDKIT=0 docker build --label "$LABEL=$sum" -t "$image" "$ctx" >"$work/build.log" 2>&1; then
		cat "$work/build.log" >&2
		log "docker build of $image failed"
		exit 1
	fi
	log "built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
}

image_strata() {
	local ctx
	ctx="$(newctx strata)"
	log "compiling strata and strata-init (CGO_ENABLED=0)"
	CGO_ENABLED=0 "$GO" build -trimpath -ldflags='-s -w' -o "$ctx/strata" ./cmd/strata
	CGO_ENABLED=0 "$GO" build -trimpath -ldflags='-s -w' -o "$ctx/strata-init" ./images/strata-init
	local certs=/etc/ssl/certs/ca-certificates.crt
	if [[ -f "$certs" ]]; then
		cp "$certs" "$ctx/ca-certificates.crt"
	else
		log "warning: no $certs; the image cannot verify S3 over HTTPS"
		: >"$ctx/ca-certificates.crt"
	fi
	build "$LOCAL_STRATA_IMAGE" "$ctx"
}

image_minio() {
	local ctx bin
	bin="$(scripts/minio.sh)" # cached; builds the pinned release once
	ctx="$(newctx minio)"
	place "$bin" "$ctx/minio"
	build "$LOCAL_MINIO_IMAGE" "$ctx"
}

image_etcd() {
	local ctx version bin
	version="$(awk '$1 == "require" && $2 == "go.etcd.io/etcd/server/v3" {print $3}' images/etcd/go.mod)"
	[[ -n "$version" ]] || { log "no etcd version in images/etcd/go.mod"; exit 1; }
	bin="$BIN_DIR/etcd-$version"
	if [[ ! -x "$bin" ]]; then
		log "building etcd $version into $bin (once; about a minute)"
		local tmp
		tmp="$(mktemp "$BIN_DIR/.etcd.XXXXXX")"
		(cd images/etcd && CGO_ENABLED=0 GOFLAGS=-mod=readonly "$GO" build -trimpath -ldflags='-s -w' -o "$tmp" .)
		mv -f "$tmp" "$bin"
	fi
	ctx="$(newctx etcd)"
	mkdir -p "$ctx/var/lib/etcd"
	place "$bin" "$ctx/etcd"
	build "$LOCAL_ETCD_IMAGE" "$ctx"
}

targets=("$@")
((${#targets[@]})) || targets=(strata minio etcd)
for t in "${targets[@]}"; do
	case "$t" in
	strata | minio | etcd) "image_$t" ;;
	*)
		log "unknown image $t (want strata, minio or etcd)"
		exit 2
		;;
	esac
done
