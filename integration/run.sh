#!/usr/bin/env bash
# Run the real-runtime integration tests (as root):
#
#   integration/run.sh [runc|adversarial|podman|rootless|ctr|kernel-truth|concurrency|install|deb|rpm|cri|crio|psa-cri|oracle]...   (default: all)
#
# cri, crio and psa-cri build their peers first (integration/peers/build.sh:
# containerd 2.x, CRI-O, crictl, a current runc, NRI's hook injector; cached
# outside the clone);
# oracle is integration/oracle/run.sh (the privilege oracle's smoke run and
# the replay of its findings).
#
# Builds the hook with `cargo build --release` unless OCI_PSP_HOOK_BIN names
# a binary already, runs each script (each prints its own summary) and ends
# with the total "N passed, N failed"; exits non-zero when anything failed.

set -u

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$IT_DIR/.." && pwd)

suites=("$@")
[ "${#suites[@]}" -gt 0 ] || suites=(runc adversarial podman rootless ctr kernel-truth concurrency install deb rpm cri crio psa-cri oracle)
# script SUITE: the script that runs it.
script() {
	if [ "$1" = oracle ]; then echo "$IT_DIR/oracle/run.sh"; else echo "$IT_DIR/$1.sh"; fi
}
for suite in "${suites[@]}"; do
	if [ ! -x "$(script "$suite")" ]; then
		echo "unknown suite '$suite' (expected runc, adversarial, podman, rootless, ctr, kernel-truth, concurrency, install, deb, rpm, cri, crio, psa-cri or oracle)" >&2
		exit 2
	fi
done

if [ -z "${OCI_PSP_HOOK_BIN:-}" ]; then
	if ! (cd "$REPO" && cargo build --release); then
		echo "cargo build --release failed"
		echo "0 passed, 1 failed"
		exit 1
	fi
	OCI_PSP_HOOK_BIN="$REPO/target/release/oci-psp-hook"
fi
export OCI_PSP_HOOK_BIN

out=$(mktemp "/tmp/oci-psp-hook-run.$$.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT

total_passed=0
total_failed=0
for suite in "${suites[@]}"; do
	echo "### $suite.sh"
	"$(script "$suite")" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "$suite.sh exited $rc without a summary: counted as 1 failure"
		total_failed=$((total_failed + 1))
		continue
	fi
	passed=${line%% passed*}
	failed=${line#*, }
	failed=${failed%% failed}
	total_passed=$((total_passed + passed))
	total_failed=$((total_failed + failed))
	if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
		echo "$suite.sh exited $rc after a clean summary: counted as 1 failure"
		total_failed=$((total_failed + 1))
	fi
	echo
done

echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
