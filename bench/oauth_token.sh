#!/usr/bin/env bash
# Token endpoint throughput (client_credentials) of the built-in OAuth authorization server:
# opaque and JWT access tokens, SQLite store in a temporary directory, loopback HTTP/1.1.
#
#   bench/oauth_token.sh            # RUN_SECONDS=10 CONNS=32 RUNS=3 DURABILITY="full normal"
#
# DURABILITY lists the store commit modes to measure (SqliteStore `Durability`): `full`
# (synchronous=FULL, the gateway's setting) flushes every commit; `normal` (synchronous=NORMAL)
# survives a process crash but may lose the last commits on power loss.
#
# The load generator is in the same process as the server (crates/oauth/examples/token_bench.rs),
# so the two share the machine's cores and the figure is conservative. Target: >= 5,000 tokens/s
# for opaque tokens. Results are printed and appended to bench/results/oauth-token.txt.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# (not $SECONDS: bash sets it to the shell's age, which made every run 0 s long)
SECONDS_PER_RUN=${RUN_SECONDS:-10} CONNS=${CONNS:-32} RUNS=${RUNS:-3} DURABILITY=${DURABILITY:-full normal}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target}
# LTO off only to keep the build short; it makes the figure lower, not higher.
(cd "$REPO" && CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo build --release -p portcullis-oauth --example token_bench >&2)
BIN="$CARGO_TARGET_DIR/release/examples/token_bench"
mkdir -p "$REPO/bench/results"
for format in opaque jwt; do
    for durability in $DURABILITY; do
        for run in $(seq "$RUNS"); do
            line=$("$BIN" "$SECONDS_PER_RUN" "$CONNS" "$format" "$durability")
            echo "$(date -u +%FT%TZ) run=$run durability=$durability $line" | tee -a "$REPO/bench/results/oauth-token.txt"
        done
    done
done
