#!/usr/bin/env bash
# A short fuzz smoke run for CI: each target of fuzz/ for FUZZ_SMOKE_SECONDS
# (default 20) from its committed seeds (fuzz/corpus/<target>/) and
# reproducers (fuzz/regressions/<target>/). The committed corpus is only read:
# what the run finds goes to a temporary directory. A crash is kept in
# fuzz/artifacts/<target>/ (minimize it with `cargo +nightly fuzz tmin`).
#
# Needs the nightly toolchain; installs cargo-fuzz when it is missing. Without
# nightly it prints a skip line and exits 0. Exit 1 when any target failed.
#
# The smoke run builds without a sanitizer and without optimization
# (FUZZ_SMOKE_BUILD="--dev -s none"): about a minute from cold instead of
# eleven for the release AddressSanitizer build of the long runs. Rust code
# needs no ASan to find panics, overflows, timeouts and memory blow-ups; set
# FUZZ_SMOKE_BUILD="" for the long runs' build.
#
#   fuzz/run-smoke.sh                 # every target, 20 s each
#   FUZZ_SMOKE_SECONDS=60 fuzz/run-smoke.sh decision policy
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

seconds=${FUZZ_SMOKE_SECONDS:-20}
read -r -a build <<<"${FUZZ_SMOKE_BUILD---dev -s none}"
all=(oci_state config_view policy hook_config decision)
targets=("${@:-${all[@]}}")

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz smoke: SKIPPED, no nightly toolchain (rustup toolchain install nightly)"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  if ! cargo install cargo-fuzz --locked >/dev/null 2>&1; then
    echo "fuzz smoke: SKIPPED, cargo-fuzz could not be installed"
    exit 0
  fi
fi

echo "== cargo +nightly fuzz build ${build[*]}"
if ! cargo +nightly fuzz build "${build[@]}"; then
  echo "fuzz smoke: the fuzz targets do not build"
  echo "0 passed, ${#targets[@]} failed"
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
failures=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  inputs=("$work/$t" "fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && inputs+=("fuzz/regressions/$t")
  dict=()
  [ -f "fuzz/dict/$t.dict" ] && dict=("-dict=fuzz/dict/$t.dict")
  echo "== $t (${seconds}s)"
  if cargo +nightly fuzz run "${build[@]}" "$t" "${inputs[@]}" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 "${dict[@]}" >"$work/$t.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
    echo "   ok: ${runs:-?} executions"
    passed=$((passed + 1))
  else
    echo "   FAILED; the end of its log:"
    tail -n 40 "$work/$t.log" | sed 's/^/   | /'
    failed=$((failed + 1))
    failures+=("$t")
  fi
done

[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]} (reproducers in fuzz/artifacts/)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
