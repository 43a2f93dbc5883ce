#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit + integration tests (nextest), doc tests.
# Usage: scripts/test.sh            (from anywhere inside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== cargo nextest"
cargo nextest run --workspace --no-fail-fast --failure-output final

echo "== doc tests"
cargo test --workspace --doc --quiet

echo "== fuzz smoke (bounded, committed seed corpus)"
scripts/fuzz-smoke.sh
