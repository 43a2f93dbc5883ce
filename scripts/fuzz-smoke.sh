#!/usr/bin/env bash
# Bounded fuzzing of the threat engines on the stable toolchain, as CI runs it.
#
# Builds the libFuzzer targets in crates/threat/fuzz with the same instrumentation flags that
# `cargo fuzz build -s none` passes (SanitizerCoverage, no sanitizer: the engines forbid unsafe
# code), so neither nightly nor cargo-fuzz is needed, then runs each target for
# FUZZ_SECONDS (default 20) starting from the committed seed corpus. Any crash, panic, leak of
# the time budget per input (-timeout) or memory limit (-rss_limit_mb) fails the script and
# leaves the reproducer in $OUT/artifacts.
#
# Usage: scripts/fuzz-smoke.sh [target ...]     (default: every target)
set -euo pipefail
cd "$(dirname "$0")/../crates/threat/fuzz"

seconds="${FUZZ_SECONDS:-20}"
target_dir="${CARGO_TARGET_DIR:-../../../target}/fuzz"
out="${FUZZ_OUT:-$(mktemp -d)}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(json_scan json_doc openapi_body xml_scan decode_inspect)
fi

export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
  -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
  -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares \
  -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps RUSTFLAGS away from build scripts and proc macros, which must
# not be instrumented (they would need the libFuzzer runtime to link), as cargo-fuzz does.
host="$(rustc -vV | sed -n 's/^host: //p')"
echo "== building fuzz targets (stable, -s none equivalent)"
CARGO_TARGET_DIR="$target_dir" cargo build --release --locked --quiet --bins --target "$host"
bin_dir="$target_dir/$host/release"

for t in "${targets[@]}"; do
  echo "== fuzzing $t for ${seconds}s"
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
  # New inputs go to the scratch corpus (first directory); the committed seeds stay read-only.
  rc=0
  "$bin_dir/$t" "$out/corpus/$t" "corpus/$t" \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$t/" >"$out/$t.log" 2>&1 || rc=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY)" "$out/$t.log" || true
  if [ "$rc" -ne 0 ] || compgen -G "$out/artifacts/$t/*" >/dev/null; then
    tail -n 40 "$out/$t.log" >&2
    echo "fuzz target $t failed (exit $rc); reproducers: $out/artifacts/$t" >&2
    exit 1
  fi
done
echo "== fuzzing finished without findings"
