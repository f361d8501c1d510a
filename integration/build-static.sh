#!/usr/bin/env bash
# The binary that ships (the Debian package, the RPM, the installer image):
# statically linked against musl, non-PIE, optimized with a profile of its
# own runs. Static: no dynamic loader, no libc lookup on every container
# start (~200 us less than the dynamic build here). musl: no CPU-feature
# probing at start (glibc's static start-up runs a few dozen CPUID
# instructions, each a trap to the hypervisor in a VM: ~45 us of every start
# on this machine, see docs/performance.md). Non-PIE: no start-up relocation
# pass over the binary's data. Profile-guided: an instrumented build first
# judges every captured config.json of tests/fixtures as the hook does
# (integration/pgo-train.py), and the compiler lays out the shipped build by
# those counts (~10% off a start, docs/performance.md). Without
# llvm-profdata (rustup's llvm-tools) the build says so and goes without.
#
#   integration/build-static.sh     # prints the binary's path on stdout
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGET=x86_64-unknown-linux-musl
BIN="target/$TARGET/release/oci-psp-hook"
STATIC='-C target-feature=+crt-static -C relocation-model=static'
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
	echo "build-static.sh: rustup target add $TARGET" >&2
	rustup target add "$TARGET" >&2
fi

profdata="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-profdata"
if [[ ! -x $profdata ]] && command -v rustup >/dev/null; then
	echo "build-static.sh: rustup component add llvm-tools (for the profile-guided build)" >&2
	rustup component add llvm-tools >&2 || true
fi
PGO_FLAGS=
if [[ -x $profdata ]]; then
	# The instrumented build, in its own target directory. Its counters are
	# merged into a profile named by the instrumented binary's hash: the same
	# sources train once, and the shipped build's flags (so cargo's cache of
	# it) change only when the profile does.
	gen_dir=target/pgo/gen
	RUSTFLAGS="$STATIC -C profile-generate=$PWD/target/pgo/raw" \
		cargo build --release --quiet --target "$TARGET" --target-dir "$gen_dir" >&2
	gen="$gen_dir/$TARGET/release/oci-psp-hook"
	profile="$PWD/target/pgo/$(sha256sum "$gen" | cut -c1-16).profdata"
	if [[ ! -f $profile ]]; then
		rm -rf target/pgo/raw
		python3 integration/pgo-train.py "$gen" target/pgo/train >&2
		"$profdata" merge -o "$profile.tmp" target/pgo/raw >&2
		mv "$profile.tmp" "$profile"
		# Only the profile of the sources built now is ever used again.
		find target/pgo -maxdepth 1 -name '*.profdata' ! -name "${profile##*/}" -delete
		rm -rf target/pgo/raw target/pgo/train
	fi
	PGO_FLAGS="-C profile-use=$profile"
else
	echo "build-static.sh: no llvm-profdata; building without a profile (every start slower, docs/performance.md)" >&2
fi
# --target keeps RUSTFLAGS off the build scripts and proc-macros.
RUSTFLAGS="$STATIC $PGO_FLAGS" cargo build --release --quiet --target "$TARGET" >&2
if readelf -l "$BIN" | grep -q 'program interpreter'; then
	echo "build-static.sh: $BIN is dynamically linked" >&2
	exit 1
fi
echo "$BIN"
