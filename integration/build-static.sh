#!/usr/bin/env bash
# The binary that ships (the Debian package, the RPM, the installer image):
# statically linked against musl, non-PIE. Static: no dynamic loader, no
# libc lookup on every container start (~200 us less than the dynamic build
# here). musl: no CPU-feature probing at start (glibc's static start-up runs
# a few dozen CPUID instructions, each a trap to the hypervisor in a VM:
# ~45 us of every start on this machine, see docs/performance.md). Non-PIE:
# no start-up relocation pass over the binary's data.
#
#   integration/build-static.sh     # prints the binary's path on stdout
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGET=x86_64-unknown-linux-musl
BIN="target/$TARGET/release/oci-psp-hook"
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
	echo "build-static.sh: rustup target add $TARGET" >&2
	rustup target add "$TARGET" >&2
fi
# --target keeps RUSTFLAGS off the build scripts and proc-macros.
RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' \
	cargo build --release --quiet --target "$TARGET" >&2
if readelf -l "$BIN" | grep -q 'program interpreter'; then
	echo "build-static.sh: $BIN is dynamically linked" >&2
	exit 1
fi
echo "$BIN"
