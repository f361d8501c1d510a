#!/usr/bin/env bash
# Build the installer image (deploy/kubernetes): the statically linked
# binary first, then `podman build -f Containerfile`, then a smoke run of
# the image with --version.
#
#   integration/build-image.sh [IMAGE]     (default localhost/oci-psp-hook:<version>)
#
# Prints the image name on the last line of stdout. Push it with
#   podman push IMAGE registry.example.com/oci-psp-hook:<version>
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
IMAGE=${1:-localhost/oci-psp-hook:$VERSION}

echo "== static build (integration/build-static.sh)" >&2
integration/build-static.sh >/dev/null

echo "== podman build -t $IMAGE" >&2
podman build -q -f Containerfile -t "$IMAGE" . >&2

echo "== podman run $IMAGE --version" >&2
# runc where present (crun fails on some hybrid-cgroup hosts); explicit
# ulimits (some hosts refuse podman's defaults).
RUN_FLAGS=(--rm --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
if command -v runc >/dev/null 2>&1; then RUN_FLAGS+=(--runtime runc); fi
out=$(podman run "${RUN_FLAGS[@]}" "$IMAGE" --version)
if [ "$out" != "oci-psp-hook $VERSION" ]; then
	echo "build-image.sh: the image printed '$out', expected 'oci-psp-hook $VERSION'" >&2
	exit 1
fi
echo "$IMAGE"
