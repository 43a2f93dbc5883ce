#!/usr/bin/env bash
# Figures that stay put on a busy machine: instructions per proxied request (valgrind
# callgrind) and resident memory per idle connection, for nginx and the gateway.
#
#   bench/instructions.sh            # both parts, ~5 minutes; prints a markdown table
#   PART=instructions bench/instructions.sh
#   PART=memory bench/instructions.sh
#
# Instructions: each proxy runs under `valgrind --tool=callgrind` twice, serving N1 and then N2
# requests (`h2load --h1 -c CONC`); (Ir(N2) − Ir(N1)) / (N2 − N1) is the user-space instruction
# count per request with start-up, connection set-up and shutdown cancelled out. Kernel work
# (the system calls themselves) is not counted; the number of system calls per request is what
# `strace -c` shows. The upstream runs natively.
#
# Memory: a fresh gateway (and the nginx proxy), `bench/idle_conns.py` opens IDLE_CONNS
# connections, sends one keep-alive request on each and holds them; VmRSS before and with the
# connections open (after SETTLE seconds), and the same with connections that never send a
# byte (`--silent`).
#
# The bare hyper + tokio proxy (crates/proxy/examples/hyper_floor.rs) is measured too: the floor
# under any gateway built on that stack.
#
# Environment: PORTCULLIS_BIN (else `cargo build --release -p portcullis`), FLOOR_BIN (else
# `cargo build --release -p portcullis-proxy --example hyper_floor`; FLOOR=0 skips it), N1=2000 N2=10000
# CONC=32, IDLE_CONNS=10000, SETTLE=2, PART=all|instructions|memory, GATEWAY_ENV (extra
# environment for the gateway process only, e.g. an LD_PRELOAD allocator to compare),
# CALLGRIND_DIR (keep the callgrind files there, for `callgrind_annotate`; else they go with
# the run's temporary directory), THREAT=1 (also the 10 KB JSON POST of run.sh's S2P and S5:
# the plain proxy and the three body checks, TN1=500 and TN2=2500 requests).
# While iterating on a change, `cargo build --profile profiling -p portcullis` builds in a
# minute or two (no fat LTO) and PORTCULLIS_BIN=$CARGO_TARGET_DIR/profiling/portcullis
# measures it; compare before/after with the same profile.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

N1=${N1:-2000} N2=${N2:-10000} CONC=${CONC:-32} IDLE_CONNS=${IDLE_CONNS:-10000} SETTLE=${SETTLE:-2}
PART=${PART:-all} THREAT=${THREAT:-0} TN1=${TN1:-500} TN2=${TN2:-2500}
# What h2load sends: the path, and for the POST scenarios its extra arguments (body, type).
REQ_PATH=/ POST_ARGS=()
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target}
UP_PORT=18580 NGX_PORT=18581 GW_PORT=18582 POL_PORT=18583 SH_PORT=18584 THREAT_PORT=18585
for p in $UP_PORT $NGX_PORT $SH_PORT $GW_PORT $POL_PORT $THREAT_PORT $((GW_PORT + 10)) $((POL_PORT + 10)) $((THREAT_PORT + 10)); do
    port_free "$p" || die "port $p is in use"
done
command -v valgrind >/dev/null || apt_install valgrind
command -v h2load >/dev/null || apt_install nghttp2-client
ensure_tools

WORK=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-instr.XXXXXX")
cleanup() {
    stop_all
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

if [[ -z ${PORTCULLIS_BIN:-} ]]; then
    log "cargo build --release -p portcullis (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    (cd "$REPO" && cargo build --release -p portcullis >&2)
    PORTCULLIS_BIN="$CARGO_TARGET_DIR/release/portcullis"
fi
FLOOR=${FLOOR:-1}
if [[ $FLOOR == 1 && -z ${FLOOR_BIN:-} && $PART != memory ]]; then
    log "cargo build --release -p portcullis-proxy --example hyper_floor"
    (cd "$REPO" && cargo build --release -p portcullis-proxy --example hyper_floor >&2)
    FLOOR_BIN="$CARGO_TARGET_DIR/release/examples/hyper_floor"
fi

# nginx as the upstream (native, as in run.sh).
render "$HERE/conf/upstream.nginx.conf" "$WORK/upstream.conf" DIR="$WORK" UPSTREAM_PORT=$UP_PORT
nginx -p "$WORK" -c "$WORK/upstream.conf" -e "$WORK/upstream.startup.log" &
STARTED_PIDS+=($!)
wait_http $UP_PORT $! || die "upstream did not start"

render_gateway() { # name template port
    render "$HERE/conf/$2" "$WORK/$1.yaml" DIR="$WORK" NAME="$1" PORT="$3" ADMIN_PORT=$(($3 + 10)) \
        UPSTREAM_PORT=$UP_PORT HEADER_READ_TIMEOUT=60s
}
render_gateway plain gateway-plain.yaml $GW_PORT
render_gateway policies gateway-policies.yaml $POL_PORT
if [[ $THREAT == 1 ]]; then
    # S5 of run.sh: the three body checks on the criterion bench's order and contract.
    cp "$REPO/crates/threat/benches/data/orders-openapi.yaml" "$WORK/orders-openapi.yaml"
    render_gateway threat gateway-threat.yaml $THREAT_PORT
fi
API_KEY=$(create_api_key "$PORTCULLIS_BIN" "$WORK/policies.yaml" "$WORK/keys.stderr")
# The nginx proxy as one process (no master), so valgrind follows the process that works.
render "$HERE/conf/proxy.nginx.conf" "$WORK/proxy.conf" DIR="$WORK" UPSTREAM_PORT=$UP_PORT NGINX_PROXY_PORT=$NGX_PORT
sed -i 's/^daemon off;/daemon off;\nmaster_process off;/' "$WORK/proxy.conf"

start() { # name port command... ; sets PID
    local name=$1 port=$2
    shift 2
    # GATEWAY_ENV (e.g. LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2) applies to the
    # gateway only, also under valgrind (env execs it, keeping the PID).
    [[ $name != nginx && -n ${GATEWAY_ENV:-} ]] && set -- env $GATEWAY_ENV "$@"
    "$@" >"$WORK/$name.stdout" 2>"$WORK/$name.stderr" &
    PID=$!
    STARTED_PIDS+=("$PID")
    local i
    for ((i = 0; i < 600; i++)); do
        curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" && return 0
        kill -0 "$PID" 2>/dev/null || die "$name exited: $(tail -5 "$WORK/$name.stderr")"
        sleep 0.2
    done
    die "$name did not start"
}

stop() { # pid: SIGTERM and wait (callgrind writes its file on exit)
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# One worker, as in run.sh (exported: valgrind must start the gateway itself, not `env`).
export PORTCULLIS_WORKERS=1 PORTCULLIS_LOG=warn
gateway_cmd() { # name
    echo "$PORTCULLIS_BIN" serve --config "$WORK/$1.yaml"
}

# Total instructions of one callgrind run of `cmd` serving n requests.
instr_run() { # name port n header cmd...
    local name=$1 port=$2 n=$3 hdr=$4 out="${CALLGRIND_DIR:-$WORK}/$1-$3.callgrind"
    shift 4
    start "$name" "$port" valgrind --tool=callgrind --callgrind-out-file="$out" "$@"
    local args=(--h1 -t1 -c"$CONC" -n"$n" "${POST_ARGS[@]}")
    [[ -n $hdr ]] && args+=(-H "$hdr")
    h2load "${args[@]}" "http://127.0.0.1:$port$REQ_PATH" >"$WORK/$name-$n.h2load"
    grep -q "succeeded, 0 failed, 0 errored" "$WORK/$name-$n.h2load" \
        || grep -q " $n succeeded" "$WORK/$name-$n.h2load" \
        || log "warning: $name-$n: $(grep 'requests:' "$WORK/$name-$n.h2load")"
    stop "$PID"
    awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

instructions() { # label name port header cmd...
    local label=$1 name=$2 port=$3 hdr=$4 i1 i2 n1=${RUN_N1:-$N1} n2=${RUN_N2:-$N2}
    shift 4
    i1=$(instr_run "$name" "$port" "$n1" "$hdr" "$@")
    i2=$(instr_run "$name" "$port" "$n2" "$hdr" "$@")
    printf '| %s | %s | %s | **%s** |\n' "$label" "$i1" "$i2" \
        "$(awk -v a="$i1" -v b="$i2" -v n1="$n1" -v n2="$n2" 'BEGIN { printf "%.0f", (b - a) / (n2 - n1) }')"
}

if [[ $PART == all || $PART == instructions ]]; then
    log "instructions per request: callgrind, h2load -c$CONC, $N1 and $N2 requests"
    echo "| proxy (user-space instructions, callgrind) | Ir, $N1 requests | Ir, $N2 requests | Ir per request |"
    echo "|---|---|---|---|"
    instructions "nginx reverse proxy (1 process)" nginx $NGX_PORT "" \
        nginx -p "$WORK" -c "$WORK/proxy.conf" -e "$WORK/nginx.startup.log"
    if [[ $FLOOR == 1 ]]; then
        instructions "bare hyper + tokio proxy (\`hyper_floor\`)" floor $SH_PORT "" \
            "$FLOOR_BIN" 127.0.0.1:$SH_PORT 127.0.0.1:$UP_PORT
    fi
    # shellcheck disable=SC2046
    instructions "Portcullis, plain proxy" plain $GW_PORT "" $(gateway_cmd plain)
    # shellcheck disable=SC2046
    instructions "Portcullis + verify-api-key + spike-arrest + access log" policies $POL_PORT \
        "x-api-key: $API_KEY" $(gateway_cmd policies)
    if [[ $THREAT == 1 ]]; then
        # The plain proxy and the three checks on the same POST: their difference is what the
        # checks cost inside the gateway (compare crates/threat/benches/three_checks.rs).
        REQ_PATH=/orders RUN_N1=$TN1 RUN_N2=$TN2
        POST_ARGS=(-d "$REPO/crates/threat/benches/data/order-10k.json" -H "content-type: application/json")
        # shellcheck disable=SC2046
        instructions "Portcullis, plain proxy, POST 10 KB JSON ($TN1 and $TN2 requests)" post $GW_PORT "" \
            $(gateway_cmd plain)
        # shellcheck disable=SC2046
        instructions "Portcullis + the three body checks, same POST" threat $THREAT_PORT "" \
            $(gateway_cmd threat)
        REQ_PATH=/ POST_ARGS=()
        unset RUN_N1 RUN_N2
    fi
    echo
fi

idle_rss() { # label port "pids" extra-args...
    local label=$1 port=$2 pids=$3 before after out="$WORK/idle.out"
    shift 3
    # shellcheck disable=SC2086
    before=$(rss_kib $pids)
    python3 "$HERE/idle_conns.py" --port "$port" --count "$IDLE_CONNS" --hold $((SETTLE + 4)) "$@" >"$out" &
    local helper=$!
    until grep -q '^ready' "$out" 2>/dev/null; do
        kill -0 "$helper" 2>/dev/null || die "idle connection helper failed: $(cat "$out")"
        sleep 0.2
    done
    sleep "$SETTLE"
    # shellcheck disable=SC2086
    after=$(rss_kib $pids)
    wait "$helper" || true
    printf '| %s | %s | %.1f MiB | %.1f MiB | %.2f KiB | %s |\n' "$label" "$([[ $* == --silent ]] && echo 'never sent a byte' || echo 'keep-alive, after one request')" \
        "$(awk -v k="$before" 'BEGIN { print k / 1024 }')" "$(awk -v k="$after" 'BEGIN { print k / 1024 }')" \
        "$(awk -v a="$after" -v b="$before" -v n="$IDLE_CONNS" 'BEGIN { print (a - b) / n }')" \
        "$(tr '\n' ' ' <"$out")"
}

if [[ $PART == all || $PART == memory ]]; then
    log "memory: $IDLE_CONNS idle connections"
    echo "| process | connections | VmRSS before | VmRSS with $IDLE_CONNS open | per connection | helper |"
    echo "|---|---|---|---|---|---|"
    for mode in "" --silent; do
        # shellcheck disable=SC2046
        start gateway $GW_PORT $(gateway_cmd plain)
        sleep 1
        # shellcheck disable=SC2086
        idle_rss "Portcullis (fresh, plain proxy)" $GW_PORT "$PID" $mode
        stop "$PID"
    done
    sed -i 's/^master_process off;//' "$WORK/proxy.conf"
    start nginx $NGX_PORT nginx -p "$WORK" -c "$WORK/proxy.conf" -e "$WORK/nginx.startup.log"
    sleep 1
    idle_rss "nginx proxy (1 process)" $NGX_PORT "$(tree_pids "$PID")"
    stop "$PID"
fi
