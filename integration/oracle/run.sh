#!/usr/bin/env bash
# The privilege oracle (see README.md beside this file), as root:
#
#   integration/oracle/run.sh                    # oracle.py --smoke 200, then replay
#   integration/oracle/run.sh --minutes 30 --seed 7 --policy restricted   # a long run, then replay
#
# Builds the static probe (cached in $ORACLE_TARGET_DIR, default
# target/oracle), takes the hook from $OCI_PSP_HOOK_BIN (default
# target/release/oci-psp-hook, built with `cargo build --release` when
# absent), runs oracle.py with the given options (default --smoke 200), then
# `oracle.py replay` (every saved finding), and ends with the total
# "N passed, N failed". Needs root, runc on PATH, cargo, python3.

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

fail_setup() {
	echo "oracle/run.sh: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

[ "$(id -u)" = 0 ] || fail_setup "starts real containers: run it as root"
command -v runc >/dev/null 2>&1 || fail_setup "runc not found on PATH"
command -v python3 >/dev/null 2>&1 || fail_setup "python3 not found"
command -v cargo >/dev/null 2>&1 || fail_setup "cargo not found"

# The hook under test.
if [ -z "${OCI_PSP_HOOK_BIN:-}" ]; then
	OCI_PSP_HOOK_BIN="$REPO/target/release/oci-psp-hook"
	if [ ! -x "$OCI_PSP_HOOK_BIN" ]; then
		echo "building the hook (cargo build --release)"
		(cd "$REPO" && CARGO_TARGET_DIR="$REPO/target" nice -n 10 cargo build --release --quiet) ||
			fail_setup "cargo build --release failed"
	fi
fi
[ -x "$OCI_PSP_HOOK_BIN" ] || fail_setup "hook binary $OCI_PSP_HOOK_BIN not found"

# The probe: static (integration/build-static.sh's flags), so it runs in any
# rootfs. Its own Cargo project and lock file, no dependencies: builds offline.
TRIPLE=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
[ -n "$TRIPLE" ] || TRIPLE=x86_64-unknown-linux-gnu
TARGET_DIR=${ORACLE_TARGET_DIR:-$REPO/target/oracle}
PROBE="$TARGET_DIR/$TRIPLE/release/oracle-probe"
# --target keeps RUSTFLAGS off build scripts (there are none, but as build-static.sh does).
if ! RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' CARGO_TARGET_DIR="$TARGET_DIR" \
	nice -n 10 cargo build --release --locked --quiet --manifest-path "$HERE/probe/Cargo.toml" \
	--target "$TRIPLE" >&2; then
	fail_setup "building the probe failed"
fi
if command -v readelf >/dev/null 2>&1 && readelf -l "$PROBE" | grep -q 'program interpreter'; then
	fail_setup "$PROBE is dynamically linked"
fi

bb=$(command -v busybox 2>/dev/null || true)
if [ -z "$bb" ] || ldd "$bb" >/dev/null 2>&1; then
	echo "note: no static busybox (apt-get install busybox-static): the probe image has no shell" >&2
fi

args=("$@")
[ "${#args[@]}" -gt 0 ] || args=(--smoke "${ORACLE_SMOKE:-200}")

out=$(mktemp "/tmp/oci-psp-oracle-run.$$.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT

total_passed=0
total_failed=0
# summarize: add the last "N passed, N failed" line of $out to the totals.
summarize() {
	local line passed failed
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "$1 ended without a summary: counted as 1 failure"
		total_failed=$((total_failed + 1))
		return
	fi
	passed=${line%% passed*}
	failed=${line#*, }
	failed=${failed%% failed}
	total_passed=$((total_passed + passed))
	total_failed=$((total_failed + failed))
}

echo "### oracle.py ${args[*]}"
python3 "$HERE/oracle.py" --hook "$OCI_PSP_HOOK_BIN" --probe "$PROBE" "${args[@]}" 2>&1 | tee "$out"
summarize "oracle.py ${args[*]}"
echo
echo "### oracle.py replay"
python3 "$HERE/oracle.py" replay --hook "$OCI_PSP_HOOK_BIN" --probe "$PROBE" 2>&1 | tee "$out"
summarize "oracle.py replay"
echo
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
