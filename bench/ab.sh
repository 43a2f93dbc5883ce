#!/usr/bin/env bash
# Two gateway binaries against each other, interleaved: for when a change is smaller than the
# drift of a shared machine between two `bench/run.sh` runs.
#
#   A=/path/to/old/portcullis B=/path/to/new/portcullis bench/ab.sh
#
# Both gateways run side by side (one worker each, on CPU 1, like the upstream) with the same
# config; wrk (CPU 0) loads A, then B, then A, ... for ROUNDS rounds per scenario, and each
# run's requests/s and the gateway's CPU time per request (utime + stime of the process, all threads,
# /proc) are printed, then the medians and B ÷ A. Alternating cancels slow drift of the
# machine; the spread of the rounds shows what is left.
#
# Environment: A, B (required), SCENARIOS="plain policies threat", ROUNDS=5, DURATION=5,
# WARMUP=2, CONNS=32.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

[[ -x ${A:-} && -x ${B:-} ]] || die "set A and B to the two gateway binaries"
SCENARIOS=${SCENARIOS:-plain policies threat} ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2} CONNS=${CONNS:-32}
UP_PORT=18680
declare -A TEMPLATE=([plain]=gateway-plain.yaml [policies]=gateway-policies.yaml [threat]=gateway-threat.yaml)
declare -A BASE_PORT=([plain]=18682 [policies]=18684 [threat]=18686)
for s in $SCENARIOS; do
    [[ -n ${TEMPLATE[$s]:-} ]] || die "unknown scenario $s (plain, policies, threat)"
    for p in $UP_PORT ${BASE_PORT[$s]} $((BASE_PORT[$s] + 1)) $((BASE_PORT[$s] + 10)) $((BASE_PORT[$s] + 11)); do
        port_free "$p" || die "port $p is in use"
    done
done
ensure_tools

WORK=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-ab.XXXXXX")
trap 'stop_all; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
ulimit -n 65536 2>/dev/null || true

# The threat scenario posts the 10 KB order of the criterion bench, as run.sh's S5 does.
export BODY_FILE="$HERE/../crates/threat/benches/data/order-10k.json"
cp "$HERE/../crates/threat/benches/data/orders-openapi.yaml" "$WORK/orders-openapi.yaml"

render "$HERE/conf/upstream.nginx.conf" "$WORK/upstream.conf" DIR="$WORK" UPSTREAM_PORT=$UP_PORT
taskset -c 1 nginx -p "$WORK" -c "$WORK/upstream.conf" -e "$WORK/upstream.startup.log" &
STARTED_PIDS+=($!)
wait_http $UP_PORT $! || die "upstream did not start"

# Renders the config of gateway $1 (port $2, template $3).
render_gateway() {
    render "$HERE/conf/$3" "$WORK/$1.yaml" DIR="$WORK" NAME="$1" PORT="$2" ADMIN_PORT=$(($2 + 10)) \
        UPSTREAM_PORT=$UP_PORT HEADER_READ_TIMEOUT=10s
}

# One wrk run against port $1 with header $2 and wrk options; prints "req/s CPU-µs/req" of pid $3.
measure() {
    local port=$1 header=$2 pid=$3 before after out args=(-t1 -c"$CONNS" --latency)
    [[ -n $header ]] && args+=(-H "$header")
    [[ -n ${LUA:-} ]] && args+=(-s "$LUA")
    taskset -c 0 wrk "${args[@]}" -d"${WARMUP}s" "http://127.0.0.1:$port$PATH_" >/dev/null
    before=$(proc_ticks "$pid")
    out=$(taskset -c 0 wrk "${args[@]}" -d"${DURATION}s" "http://127.0.0.1:$port$PATH_")
    after=$(proc_ticks "$pid")
    awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" '
        /^Requests\/sec:/ { rps = $2 } /requests in/ { n = $1 }
        END { printf "%.0f %.1f\n", rps, t / hz * 1e6 / n }' <<<"$out"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '| scenario | A req/s | B req/s | B ÷ A | A CPU-µs/req | B CPU-µs/req | B ÷ A |\n|---|---|---|---|---|---|---|\n' >"$WORK/table"
for s in $SCENARIOS; do
    port=${BASE_PORT[$s]}
    render_gateway "${s}a" "$port" "${TEMPLATE[$s]}"
    render_gateway "${s}b" $((port + 1)) "${TEMPLATE[$s]}"
    if [[ $s == policies ]]; then
        key_a=$(create_api_key "$A" "$WORK/${s}a.yaml" "$WORK/keys.stderr")
        key_b=$(create_api_key "$B" "$WORK/${s}b.yaml" "$WORK/keys.stderr")
    fi
    launch_gateway "$A" "$WORK/${s}a.yaml" "$port" /dev/null "$WORK/${s}a.stderr" && pid_a=$LAUNCHED_PID
    launch_gateway "$B" "$WORK/${s}b.yaml" $((port + 1)) /dev/null "$WORK/${s}b.stderr" && pid_b=$LAUNCHED_PID
    header="" LUA="" PATH_=/
    if [[ $s == policies ]]; then
        for k in "$port $key_a" "$((port + 1)) $key_b"; do
            code=$(curl -s -o /dev/null -w '%{http_code}' -H "x-api-key: ${k#* }" "http://127.0.0.1:${k%% *}/")
            [[ $code == 200 ]] || die "gateway on port ${k%% *} answered $code with its API key"
        done
    fi
    [[ $s == threat ]] && LUA="$HERE/post_body.lua" PATH_=/orders
    : >"$WORK/$s.a" && : >"$WORK/$s.b"
    for r in $(seq "$ROUNDS"); do
        [[ $s == policies ]] && header="x-api-key: $key_a"
        read -r rps cpu < <(measure "$port" "$header" "$pid_a")
        echo "$rps $cpu" >>"$WORK/$s.a"
        [[ $s == policies ]] && header="x-api-key: $key_b"
        read -r rps2 cpu2 < <(measure $((port + 1)) "$header" "$pid_b")
        echo "$rps2 $cpu2" >>"$WORK/$s.b"
        log "$s round $r: A $rps req/s $cpu µs, B $rps2 req/s $cpu2 µs"
    done
    ra=$(cut -d' ' -f1 "$WORK/$s.a" | median) rb=$(cut -d' ' -f1 "$WORK/$s.b" | median)
    ca=$(cut -d' ' -f2 "$WORK/$s.a" | median) cb=$(cut -d' ' -f2 "$WORK/$s.b" | median)
    awk -v s="$s" -v ra="$ra" -v rb="$rb" -v ca="$ca" -v cb="$cb" \
        'BEGIN { printf "| %s | %d | %d | %.3f | %.1f | %.1f | %.3f |\n", s, ra, rb, rb / ra, ca, cb, cb / ca }' >>"$WORK/table"
done
echo "A = $A"
echo "B = $B"
cat "$WORK/table"
