#!/usr/bin/env bash
# Builds the release image (authz-gateway:latest) from a binary built on this
# host, with podman or docker, through deploy/release.Containerfile: the
# release stage of the Dockerfile, which needs no registry (FROM scratch).
# Usage: scripts/image.sh [engine]   (default: podman, else docker)
set -euo pipefail
cd "$(dirname "$0")/.."
engine="${1:-$(command -v podman || command -v docker)}"
ctx=.tmp/image
mkdir -p "$ctx"
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$ctx/authz-gateway" .
cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
"$engine" build -q -f deploy/release.Containerfile -t authz-gateway:latest "$ctx"
