#!/usr/bin/env bash
# Portcullis benchmark: throughput, CPU per request, open-loop latency and idle-connection memory
# against nginx, on loopback, following shared/design/benchmarking.md (layout A).
#
#   bench/run.sh                     # everything, results in bench/results/<timestamp>.md
#
# Environment (all optional):
#   CARGO_TARGET_DIR   where the release build goes (default /work/target)
#   PORTCULLIS_BIN     use this gateway binary instead of building one
#   FLOOR_BIN          use this `hyper_floor` binary (crates/proxy/examples) instead of building one;
#                      FLOOR=0 leaves scenario SH (the bare hyper proxy) out
#   DURATION=10 RUNS=3 WARMUP=5 CONNS=32        closed-loop (wrk) settings
#   OPEN_DURATION=10 OPEN_RUNS=3 [OPEN_RATE=N]   open-loop settings (rate default: 50% of S1's median)
#   IDLE_CONNS=10000                             connections held open for the memory figure
#   QUIET_IDLE=90 GATE_MAX_WAIT=300 QUIET_UNTIL="18:55"   quiet gate (QUIET_UNTIL: `date -d` text)
#   BENCH_INSTALL_OHA=1                          allow `cargo install oha --locked` if missing
#   THREAT_ONLY=1                                only the 10 KB JSON POST scenarios (S2P, S5), closed loop
#   OAUTH_ONLY=1                                 only S2 and the token scenarios (S6R S6E S7R S7E S8), closed loop
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

DURATION=${DURATION:-10} RUNS=${RUNS:-3} WARMUP=${WARMUP:-5} CONNS=${CONNS:-32}
OPEN_DURATION=${OPEN_DURATION:-10} OPEN_RUNS=${OPEN_RUNS:-3} IDLE_CONNS=${IDLE_CONNS:-10000}
QUIET_IDLE=${QUIET_IDLE:-90} GATE_MAX_WAIT=${GATE_MAX_WAIT:-300}
QUIET_UNTIL=$(date -d "${QUIET_UNTIL:-tomorrow}" +%s)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target}
[[ $(nproc) -ge 2 ]] || die "layout A needs at least 2 CPUs (load generator on CPU 0, proxies on CPU 1)"

THREAT_ONLY=${THREAT_ONLY:-0} OAUTH_ONLY=${OAUTH_ONLY:-0}
UP_PORT=18480 NGX_PORT=18481 S2_PORT=18482 S3_PORT=18483 MEM_PORT=18484 S5_PORT=18485 SH_PORT=18490
# Token scenarios: one gateway per signing algorithm, each with its authorization server.
OAR_PORT=18486 OAE_PORT=18487 ASR_PORT=18488 ASE_PORT=18489
for p in $UP_PORT $NGX_PORT $SH_PORT $S2_PORT $S3_PORT $MEM_PORT $S5_PORT $((S2_PORT + 10)) $((S3_PORT + 10)) $((MEM_PORT + 10)) $((S5_PORT + 10)) \
    $OAR_PORT $OAE_PORT $ASR_PORT $ASE_PORT $((OAR_PORT + 10)) $((OAE_PORT + 10)); do
    port_free "$p" || die "port $p is in use"
done

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS="$REPO/bench/results"
RAW="$RESULTS/$STAMP-raw"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-bench.XXXXXX")
mkdir -p "$RAW/closed" "$RAW/open"
cleanup() {
    stop_all
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Enough descriptors for 10k client sockets in the helper and 10k accepted ones in each server.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# --- tools and build -----------------------------------------------------------------------------
ensure_tools
choose_open_loop_tool
if [[ -z ${PORTCULLIS_BIN:-} ]]; then
    log "cargo build --release -p portcullis (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    (cd "$REPO" && cargo build --release -p portcullis >&2)
    PORTCULLIS_BIN="$CARGO_TARGET_DIR/release/portcullis"
fi
[[ -x $PORTCULLIS_BIN ]] || die "no gateway binary at $PORTCULLIS_BIN"
# SH: the bare hyper + tokio proxy (crates/proxy/examples/hyper_floor.rs), the floor under any
# gateway built on that stack, measured next to nginx and Portcullis.
FLOOR=${FLOOR:-1}
if [[ $FLOOR == 1 && -z ${FLOOR_BIN:-} ]]; then
    log "cargo build --release -p portcullis-proxy --example hyper_floor"
    (cd "$REPO" && cargo build --release -p portcullis-proxy --example hyper_floor >&2)
    FLOOR_BIN="$CARGO_TARGET_DIR/release/examples/hyper_floor"
fi

{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "host_cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "nproc=$(nproc)"
    echo "kernel=$(uname -r)"
    echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "nginx=$(nginx -v 2>&1 | sed 's|.*/||')"
    echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{ print $2 }')"
    echo "open_loop_tool=$OPEN_LOOP_TOOL $("$OPEN_LOOP_TOOL" --version 2>&1 | head -1 | awk '{ print $NF }')"
    echo "gateway=$("$PORTCULLIS_BIN" --version) (HEAD $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?'), $(cd "$REPO" && git status --porcelain -- crates Cargo.lock 2>/dev/null | grep -vc '^??') uncommitted files under crates/)"
    echo "binary=$PORTCULLIS_BIN"
    echo "conns=$CONNS"
    echo "duration=$DURATION"
    echo "command=$0 $*"
    echo "settings=duration ${DURATION}s, ${RUNS} runs, warm-up ${WARMUP}s, ${CONNS} connections; open loop ${OPEN_DURATION}s x ${OPEN_RUNS}"
} >"$RAW/machine.txt"

# --- contenders ----------------------------------------------------------------------------------
start_nginx() { # name template port-key
    local name=$1 conf="$WORK/$1.conf"
    render "$HERE/conf/$2" "$conf" DIR="$WORK" UPSTREAM_PORT=$UP_PORT NGINX_PROXY_PORT=$NGX_PORT
    taskset -c 1 nginx -p "$WORK" -c "$conf" -e "$WORK/$name.startup.log" &
    STARTED_PIDS+=($!)
    eval "${name^^}_PID=$!"
    wait_http "$3" "$!" || die "$name did not start (see $WORK/$name.error.log)"
}

render_gateway() { # name template port header-read-timeout [KEY=VALUE...]
    local conf="$WORK/$1.yaml"
    render "$HERE/conf/$2" "$conf" DIR="$WORK" NAME="$1" PORT="$3" ADMIN_PORT=$(($3 + 10)) \
        UPSTREAM_PORT=$UP_PORT HEADER_READ_TIMEOUT="$4" "${@:5}"
    "$PORTCULLIS_BIN" validate --config "$conf" >&2 || die "invalid bench config $conf"
}

start_gateway() { # name port [stdout]
    launch_gateway "$PORTCULLIS_BIN" "$WORK/$1.yaml" "$2" "${3:-/dev/null}" "$WORK/$1.stderr"
    eval "${1^^}_PID=$LAUNCHED_PID"
}

log "starting upstream, nginx proxy and gateways (all on CPU 1)"
start_nginx upstream upstream.nginx.conf $UP_PORT
start_nginx nginxproxy proxy.nginx.conf $NGX_PORT
render_gateway s2 gateway-plain.yaml $S2_PORT 10s
start_gateway s2 $S2_PORT
if [[ $FLOOR == 1 ]]; then
    taskset -c 1 "$FLOOR_BIN" 127.0.0.1:$SH_PORT 127.0.0.1:$UP_PORT 2>"$WORK/sh.stderr" &
    STARTED_PIDS+=($!)
    SH_PID=$!
    wait_http $SH_PORT "$SH_PID" || die "hyper_floor did not start: $(tail -5 "$WORK/sh.stderr")"
fi
# The key is created before S3 starts, so its in-memory key index holds it from the start.
render_gateway s3 gateway-policies.yaml $S3_PORT 10s
API_KEY=$(create_api_key "$PORTCULLIS_BIN" "$WORK/s3.yaml" "$WORK/keys.stderr")
S3_LOG="$WORK/s3-access.log"
start_gateway s3 $S3_PORT "$S3_LOG"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "x-api-key: $API_KEY" "http://127.0.0.1:$S3_PORT/")
[[ $code == 200 ]] || die "S3 with a valid key answered $code, expected 200"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$S3_PORT/")
[[ $code == 401 ]] || die "S3 without a key answered $code, expected 401"

# S5: the three body checks on the 10 KB order the criterion bench uses (crates/threat/benches).
BODY_FILE="$REPO/crates/threat/benches/data/order-10k.json"
export BODY_FILE
cp "$REPO/crates/threat/benches/data/orders-openapi.yaml" "$WORK/orders-openapi.yaml"
render_gateway s5 gateway-threat.yaml $S5_PORT 10s
start_gateway s5 $S5_PORT
post() { # port body-file -> status
    curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' --data-binary "@$2" "http://127.0.0.1:$1/orders"
}
for p in $S2_PORT $S5_PORT; do
    code=$(post "$p" "$BODY_FILE")
    [[ $code == 200 ]] || die "POST of the 10 KB order to port $p answered $code, expected 200"
done
# The checks must really run: an injected value and a schema violation are refused.
sed 's/"Zoë O.Brien"/"x'"'"' OR '"'"'1'"'"'='"'"'1"/' "$BODY_FILE" >"$WORK/attack.json"
sed 's/"quantity":1,/"quantity":0,/' "$BODY_FILE" >"$WORK/invalid.json"
for f in attack invalid; do
    code=$(post $S5_PORT "$WORK/$f.json")
    [[ $code == 400 ]] || die "S5 answered $code to the $f body, expected 400"
done

# S6–S8: a gateway with the built-in authorization server per signing algorithm. The products
# come in through the admin API (`portcullis apply`), the client through `keys create`, and the
# tokens from the token endpoint (client_credentials), as a real client would get them.
oauth_gateway() { # name port as-port alg -> sets <NAME>_JWT (and <NAME>_OPAQUE)
    local name=$1 port=$2 as=$3 alg=$4 conf="$WORK/$1.yaml" admin token key secret
    render_gateway "$name" gateway-oauth.yaml "$port" 10s AS_PORT="$as" ALG="$alg"
    start_gateway "$name" "$port"
    # The authorization server's listener comes up after the gateway's: wait for it too.
    local pid_var="${name^^}_PID"
    wait_http "$as" "${!pid_var}" || die "authorization server of $name did not start"
    BENCH_ADMIN_PASSWORD=bench-password-not-secret "$PORTCULLIS_BIN" admin create-user -c "$conf" \
        --username bench --role admin --password-env BENCH_ADMIN_PASSWORD >/dev/null 2>>"$WORK/oauth.stderr"
    admin=$("$PORTCULLIS_BIN" admin create-token -c "$conf" --username bench --name bench --role operator 2>>"$WORK/oauth.stderr" | tail -1)
    PORTCULLIS_ADMIN_TOKEN=$admin "$PORTCULLIS_BIN" apply -f "$HERE/conf/oauth-programme.yaml" \
        --admin-url "http://127.0.0.1:$((port + 10))" >/dev/null 2>>"$WORK/oauth.stderr" ||
        die "portcullis apply failed: $(tail -3 "$WORK/oauth.stderr")"
    { read -r key && read -r secret; } < <("$PORTCULLIS_BIN" keys create --config "$conf" --app bench \
        --product bench --product legacy --with-secret 2>>"$WORK/oauth.stderr")
    [[ -n $key && -n $secret ]] || die "could not create an OAuth client: $(tail -3 "$WORK/oauth.stderr")"
    token() { # scope
        curl -s -u "$key:$secret" -d grant_type=client_credentials -d "scope=$1" "http://127.0.0.1:$as/oauth2/token" |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
    }
    token=$(token bench.read) || die "$name: no JWT access token"
    eval "${name^^}_JWT=\$token"
    token=$(token legacy.read) || die "$name: no opaque access token"
    eval "${name^^}_OPAQUE=\$token"
}
OAUTH_SCENARIOS=()
if [[ $THREAT_ONLY != 1 ]]; then
    log "starting the OAuth gateways (RS256 and ES256)"
    oauth_gateway oar $OAR_PORT $ASR_PORT RS256
    oauth_gateway oae $OAE_PORT $ASE_PORT ES256
    [[ $OAR_JWT == *.*.* && $OAR_OPAQUE == pco_* ]] || die "unexpected tokens from the RS256 server"
    for check in "$OAR_PORT /oat/ $OAR_JWT 200" "$OAR_PORT /jwt/ $OAR_JWT 200" "$OAE_PORT /oat/ $OAE_JWT 200" \
        "$OAE_PORT /jwt/ $OAE_JWT 200" "$OAR_PORT /phantom/ $OAR_OPAQUE 200" "$OAR_PORT /oat/ ${OAR_JWT}x 401" \
        "$OAE_PORT /jwt/ ${OAR_JWT} 401"; do
        read -r port path tok want <<<"$check"
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $tok" "http://127.0.0.1:$port$path")
        [[ $code == "$want" ]] || die "GET $path on $port answered $code, expected $want"
    done
    OAUTH_SCENARIOS=(S6R S6E S7R S7E S8)
fi

# scenario -> url, extra load-generator args, pids of the process under test
declare -A URL=(
    [S0]="http://127.0.0.1:$UP_PORT/" [S1]="http://127.0.0.1:$NGX_PORT/" [SH]="http://127.0.0.1:$SH_PORT/"
    [S2]="http://127.0.0.1:$S2_PORT/" [S3]="http://127.0.0.1:$S3_PORT/"
    [S2P]="http://127.0.0.1:$S2_PORT/orders" [S5]="http://127.0.0.1:$S5_PORT/orders"
    [S6R]="http://127.0.0.1:$OAR_PORT/oat/" [S6E]="http://127.0.0.1:$OAE_PORT/oat/"
    [S7R]="http://127.0.0.1:$OAR_PORT/jwt/" [S7E]="http://127.0.0.1:$OAE_PORT/jwt/"
    [S8]="http://127.0.0.1:$OAR_PORT/phantom/"
)
declare -A HDR=([S0]="" [S1]="" [SH]="" [S2]="" [S3]="x-api-key: $API_KEY" [S2P]="" [S5]=""
    [S6R]="authorization: Bearer ${OAR_JWT:-}" [S6E]="authorization: Bearer ${OAE_JWT:-}"
    [S7R]="authorization: Bearer ${OAR_JWT:-}" [S7E]="authorization: Bearer ${OAE_JWT:-}"
    [S8]="authorization: Bearer ${OAR_OPAQUE:-}")
# Scenarios that POST the 10 KB order (wrk script) instead of a GET.
declare -A SCRIPT=([S2P]="$HERE/post_body.lua" [S5]="$HERE/post_body.lua")
sut_pids() {
    case $1 in
    S0) tree_pids "$UPSTREAM_PID" ;;
    S1) tree_pids "$NGINXPROXY_PID" ;;
    SH) echo "$SH_PID" ;;
    S2 | S2P) echo "$S2_PID" ;;
    S3) echo "$S3_PID" ;;
    S5) echo "$S5_PID" ;;
    S6R | S7R | S8) echo "$OAR_PID" ;;
    S6E | S7E) echo "$OAE_PID" ;;
    esac
}
# S2P and S5 post the same body through the same kind of gateway, without and with the three
# checks: their ratio is the cost of the checks (target: S5 >= 0.8 x S2P).
if [[ $THREAT_ONLY == 1 ]]; then
    SCENARIOS=(S2P S5)
elif [[ $OAUTH_ONLY == 1 ]]; then
    SCENARIOS=(S2 "${OAUTH_SCENARIOS[@]}")
else
    SCENARIOS=(S0 S1 S2 S3 S2P S5 "${OAUTH_SCENARIOS[@]}")
    [[ $FLOOR == 1 ]] && SCENARIOS=(S0 S1 SH S2 S3 S2P S5 "${OAUTH_SCENARIOS[@]}")
fi
# The open loop and the memory figure stay on the GET scenarios.
OPEN_SCENARIOS=(S0 S1 S2 S3)
[[ $FLOOR == 1 && $THREAT_ONLY == 0 && $OAUTH_ONLY == 0 ]] && OPEN_SCENARIOS=(S0 S1 SH S2 S3)

# --- closed loop: wrk ----------------------------------------------------------------------------
wrk_run() { # scenario seconds outfile
    local args=(-t1 "-c$CONNS" "-d${2}s" --latency)
    [[ -n ${HDR[$1]} ]] && args+=(-H "${HDR[$1]}")
    [[ -n ${SCRIPT[$1]:-} ]] && args+=(-s "${SCRIPT[$1]}")
    taskset -c 0 wrk "${args[@]}" "${URL[$1]}" >"$3"
}

# Runs one measured interval around "$@" and appends its accounting to a TSV file.
measured() { # scenario run tsv command...
    local s=$1 r=$2 tsv=$3 sut up b0 t0 b1 t1 c0 ct0 c1 ct1 sut0 up0 sut1 up1
    shift 3
    quiet_gate
    sut=$(sut_pids "$s")
    up=$(tree_pids "$UPSTREAM_PID")
    read -r b0 t0 < <(cpu_jiffies cpu1)
    read -r c0 ct0 < <(cpu_jiffies cpu0)
    # shellcheck disable=SC2086
    sut0=$(proc_ticks $sut) up0=$(proc_ticks $up)
    [[ $s == S3 ]] && : >"$S3_LOG"
    "$@"
    # shellcheck disable=SC2086
    sut1=$(proc_ticks $sut) up1=$(proc_ticks $up)
    read -r b1 t1 < <(cpu_jiffies cpu1)
    read -r c1 ct1 < <(cpu_jiffies cpu0)
    # The upstream is the process under test in S0: count it once.
    [[ $s == S0 ]] && up0=0 up1=0
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$r" $((sut1 - sut0)) $((up1 - up0)) \
        $((b1 - b0)) $((t1 - t0)) $((c1 - c0)) $((ct1 - ct0)) "$GATE_IDLE:$GATE_OK" >>"$tsv"
}

log "warm-up: ${WARMUP}s per contender"
for s in "${SCENARIOS[@]}"; do wrk_run "$s" "$WARMUP" /dev/null; done

printf 'scenario\trun\tsut_ticks\tupstream_ticks\tcpu1_busy\tcpu1_total\tcpu0_busy\tcpu0_total\tgate\n' >"$RAW/closed.tsv"
for ((r = 1; r <= RUNS; r++)); do
    for s in "${SCENARIOS[@]}"; do
        log "closed loop run $r/$RUNS: $s"
        measured "$s" "$r" "$RAW/closed.tsv" wrk_run "$s" "$DURATION" "$RAW/closed/$s-$r.txt"
    done
done
if [[ $THREAT_ONLY == 1 ]]; then
    stop_all
    mkdir -p "$RESULTS"
    python3 "$HERE/report.py" threat "$RAW" | tee "$RESULTS/$STAMP.md"
    log "results: bench/results/$STAMP.md (raw data in bench/results/$STAMP-raw/)"
    exit 0
fi
if [[ $OAUTH_ONLY == 1 ]]; then
    stop_all
    mkdir -p "$RESULTS"
    python3 "$HERE/report.py" oauth "$RAW" | tee "$RESULTS/$STAMP.md"
    log "results: bench/results/$STAMP.md (raw data in bench/results/$STAMP-raw/)"
    exit 0
fi
[[ -s $S3_LOG ]] || die "S3 wrote no access log lines"

# --- open loop at half of S1's peak --------------------------------------------------------------
# Half of nginx's peak by default; OPEN_RATE=N measures at a fixed rate instead (e.g. half of the
# gateway's own peak, to see added latency below saturation).
S1_MEDIAN=$(python3 "$HERE/report.py" median-rps "$RAW" S1)
OPEN_RATE=${OPEN_RATE:-$((S1_MEDIAN / 2))}
echo "open_rate=$OPEN_RATE" >>"$RAW/machine.txt"
open_run() { # scenario outfile
    local hdr=()
    if [[ $OPEN_LOOP_TOOL == oha ]]; then
        [[ -n ${HDR[$1]} ]] && hdr=(-H "${HDR[$1]}")
        taskset -c 0 oha --no-tui --output-format json --latency-correction --no-color \
            -z "${OPEN_DURATION}s" -c "$CONNS" -q "$OPEN_RATE" "${hdr[@]}" "${URL[$1]}" >"$2"
    else
        [[ -n ${HDR[$1]} ]] && hdr=(-H "${HDR[$1]}")
        taskset -c 0 h2load --h1 -t1 -c "$CONNS" --rps=$(((OPEN_RATE + CONNS - 1) / CONNS)) \
            -D "$OPEN_DURATION" --log-file="$2.log" "${hdr[@]}" "${URL[$1]}" >"$2"
    fi
}
printf 'scenario\trun\tsut_ticks\tupstream_ticks\tcpu1_busy\tcpu1_total\tcpu0_busy\tcpu0_total\tgate\n' >"$RAW/open.tsv"
log "open loop at $OPEN_RATE req/s (S1's median: $S1_MEDIAN) with $OPEN_LOOP_TOOL"
for ((r = 1; r <= OPEN_RUNS; r++)); do
    for s in "${OPEN_SCENARIOS[@]}"; do
        log "open loop run $r/$OPEN_RUNS: $s"
        measured "$s" "$r" "$RAW/open.tsv" open_run "$s" "$RAW/open/$s-$r.out"
    done
done

# --- memory with idle keep-alive connections -----------------------------------------------------
# A fresh plain-proxy gateway whose header_read_timeout (which is also the keep-alive idle
# timeout: hyper runs that clock while a connection waits for its next request) is raised from the
# default 10 s to 60 s so the connections stay open while we measure.
idle_memory() { # label port pids...
    local label=$1 port=$2 before after hwm line out="$WORK/idle-$1.out"
    shift 2
    before=$(rss_kib "$@")
    taskset -c 0 python3 "$HERE/idle_conns.py" --port "$port" --count "$IDLE_CONNS" --hold 6 >"$out" &
    local helper=$!
    STARTED_PIDS+=("$helper")
    until grep -q '^ready' "$out" 2>/dev/null; do
        kill -0 "$helper" 2>/dev/null || die "idle connection helper for $label failed"
        sleep 0.2
    done
    sleep 2
    after=$(rss_kib "$@")
    wait "$helper" || true
    line=$(tr '\n' ' ' <"$out")
    echo -e "$label\t$before\t$after\t$line" >>"$RAW/memory.tsv"
    log "memory $label: RSS ${before} KiB -> ${after} KiB ($line)"
}
log "memory: $IDLE_CONNS idle keep-alive connections"
render_gateway mem gateway-plain.yaml $MEM_PORT 60s
start_gateway mem $MEM_PORT
printf 'target\trss_before_kib\trss_after_kib\thelper\n' >"$RAW/memory.tsv"
idle_memory "Portcullis (fresh, plain proxy)" $MEM_PORT "$MEM_PID"
idle_memory "nginx proxy (S1, after the load runs)" $NGX_PORT $(tree_pids "$NGINXPROXY_PID")

# --- report --------------------------------------------------------------------------------------
stop_all
mkdir -p "$RESULTS"
python3 "$HERE/report.py" markdown "$RAW" | tee "$RESULTS/$STAMP.md"
log "results: bench/results/$STAMP.md (raw data in bench/results/$STAMP-raw/)"
