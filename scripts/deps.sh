#!/usr/bin/env bash
# Installs what `make test` and `make run` need. Idempotent and quiet when
# everything is already present:
#   - Debian packages for the real-client tests (kcat, kafka-python and
#     confluent-kafka for /usr/bin/python3),
#   - the Go modules of go.mod,
#   - staticcheck, cached in bin/tools,
#   - the MinIO server the object-store tests run against (scripts/minio.sh,
#     cached in ~/.cache/strata/bin; built once, a few minutes).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

STATICCHECK_VERSION="${STATICCHECK_VERSION:-v0.8.2}"
DEB_PACKAGES=(kcat python3-kafka python3-confluent-kafka)

log() { echo "deps: $*" >&2; }

# --- Debian packages -------------------------------------------------------
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
	if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
		missing+=("$pkg")
	fi
done
if ((${#missing[@]} > 0)); then
	if ! command -v apt-get >/dev/null 2>&1; then
		log "missing packages ${missing[*]} and no apt-get; install them by hand"
		exit 1
	fi
	SUDO=()
	if [[ "$(id -u)" -ne 0 ]]; then
		SUDO=(sudo)
	fi
	log "installing ${missing[*]}"
	"${SUDO[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Go modules --------------------------------------------------------------
go mod download

# --- staticcheck --------------------------------------------------------------
TOOLS="$(pwd)/bin/tools"
if [[ ! -x "$TOOLS/staticcheck" ]]; then
	log "installing staticcheck $STATICCHECK_VERSION into bin/tools"
	mkdir -p "$TOOLS"
	GOBIN="$TOOLS" go install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}"
fi

# --- MinIO for the object-store tests ---------------------------------------------
# (DEPS_MINIO=0 skips it: `make run` does not need it.)
if [[ "${DEPS_MINIO:-1}" != 0 && -x scripts/minio.sh ]]; then
	scripts/minio.sh >/dev/null
fi
