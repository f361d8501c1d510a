#!/usr/bin/env bash
# All tests: installs what they need (runc, podman, containerd, busybox-static from Debian; the CRI
# peers are built from Go modules by integration/run.sh cri), then
# formatting, lints, unit and integration tests, the real-runtime tests of integration/, and a
# short fuzz smoke run (fuzz/run-smoke.sh; skipped without a nightly toolchain).
# Run as root: sudo ./test.sh
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then echo "test.sh: run as root (the integration tests start containers)" >&2; exit 2; fi
missing=()
command -v runc >/dev/null || missing+=(runc)
command -v podman >/dev/null || missing+=(podman)
command -v ctr >/dev/null || missing+=(containerd)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v python3 >/dev/null || missing+=(python3)
# integration/rpm.sh: the RPM, checked with rpmlint, installed into a scratch root.
command -v rpm >/dev/null || missing+=(rpm)
command -v rpmlint >/dev/null || missing+=(rpmlint)
command -v inotifywait >/dev/null || missing+=(inotify-tools)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --quiet -- --skip agreement_by_version
echo "== Pod Security Admission test pods, version by version"
cargo test --quiet --test psa_fixtures agreement_by_version -- --nocapture
echo "== integration tests (real runtimes), with the binary that ships (integration/build-static.sh)"
OCI_PSP_HOOK_BIN="$(pwd)/$(integration/build-static.sh)" integration/run.sh
echo "== fuzz smoke (10 s per target)"
FUZZ_SMOKE_SECONDS=10 fuzz/run-smoke.sh
