# shellcheck shell=bash
# Helpers for bench/run.sh: tool installation, the quiet gate, /proc accounting and process
# start/stop. Sourced, never run directly.

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- tools ---------------------------------------------------------------------------------------

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
    if [[ $APT_UPDATED == 0 ]]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die "apt-get update failed"
        APT_UPDATED=1
    fi
    log "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 || die "apt-get install $* failed"
}

# Installs the Debian packages whose commands are missing. The open-loop tool is chosen by
# choose_open_loop_tool.
ensure_tools() {
    local missing=() pair cmd pkg
    for pair in nginx:nginx wrk:wrk curl:curl taskset:util-linux python3:python3 ss:iproute2; do
        cmd=${pair%%:*} pkg=${pair#*:}
        command -v "$cmd" >/dev/null || missing+=("$pkg")
    done
    if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
}

# oha (latency-corrected open-loop load) from crates.io if missing and allowed, else h2load --rps
# from Debian. Sets OPEN_LOOP_TOOL to "oha" or "h2load".
choose_open_loop_tool() {
    if ! command -v oha >/dev/null && [[ ${BENCH_INSTALL_OHA:-1} == 1 ]] && command -v cargo >/dev/null; then
        log "oha missing: cargo install oha --locked (a few minutes, cached in ~/.cargo/bin afterwards)"
        CARGO_TARGET_DIR="${TMPDIR:-/tmp}/bench-oha-target" nice -n 5 cargo install oha --locked >&2 || log "cargo install oha failed; falling back to h2load"
        hash -r
    fi
    if command -v oha >/dev/null; then
        OPEN_LOOP_TOOL=oha
    else
        command -v h2load >/dev/null || apt_install nghttp2-client
        OPEN_LOOP_TOOL=h2load
    fi
}

# --- /proc accounting ----------------------------------------------------------------------------

# "busy total" jiffies of one /proc/stat line ("cpu", "cpu0", "cpu1").
cpu_jiffies() {
    awk -v c="$1" '$1 == c { busy = $2 + $3 + $4 + $7 + $8 + $9; idle = $5 + $6; print busy, busy + idle; exit }' /proc/stat
}

# utime+stime (clock ticks) of the given pids, summed over all their threads.
proc_ticks() {
    local pid total=0 stat rest
    for pid in "$@"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        # After "pid (comm) ", field 3 is state; utime and stime are fields 14 and 15.
        read -r -a f <<<"$rest"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

# A pid and its direct children (nginx: master + worker).
tree_pids() { echo "$1" $(pgrep -P "$1" 2>/dev/null); }

# VmRSS in KiB, summed over the given pids.
rss_kib() {
    local pid total=0 v
    for pid in "$@"; do
        v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || v=0
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# --- quiet gate ----------------------------------------------------------------------------------

# Percent idle of the whole machine over 3 s.
idle_percent_3s() {
    local b1 t1 b2 t2
    read -r b1 t1 < <(cpu_jiffies cpu)
    sleep 3
    read -r b2 t2 < <(cpu_jiffies cpu)
    awk -v b=$((b2 - b1)) -v t=$((t2 - t1)) 'BEGIN { printf "%.0f", (t > 0 ? 100 * (t - b) / t : 0) }'
}

# Waits until the machine is >= QUIET_IDLE% idle over 3 s, at most GATE_MAX_WAIT seconds and never
# past QUIET_UNTIL (epoch seconds). Sets GATE_IDLE (last idle %) and GATE_OK (1 quiet, 0 not).
quiet_gate() {
    local start now
    start=$(date +%s)
    while :; do
        GATE_IDLE=$(idle_percent_3s)
        if ((GATE_IDLE >= QUIET_IDLE)); then GATE_OK=1; return; fi
        now=$(date +%s)
        if ((now - start >= GATE_MAX_WAIT || now >= QUIET_UNTIL)); then
            GATE_OK=0
            log "quiet gate: machine only ${GATE_IDLE}% idle; running anyway (marked as under load)"
            return
        fi
        [[ $(((now - start) % 30)) -lt 4 ]] && log "quiet gate: ${GATE_IDLE}% idle, waiting (>= ${QUIET_IDLE}% wanted)"
    done
}

# --- processes -----------------------------------------------------------------------------------

STARTED_PIDS=()

# Replaces @KEY@ placeholders in a template with the values of the given KEY=VALUE pairs.
render() {
    local template=$1 out=$2 kv sed_args=()
    shift 2
    for kv in "$@"; do sed_args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    sed "${sed_args[@]}" "$template" >"$out"
    if grep -q '@[A-Z_]*@' "$out"; then die "unfilled placeholder in $out"; fi
}

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

# Starts gateway binary $1 on config $2 the way every scenario runs it (one worker, on CPU 1)
# and waits until it answers on port $3; stdout is appended to $4, stderr goes to $5. Sets
# LAUNCHED_PID.
launch_gateway() { # binary config port stdout stderr
    PORTCULLIS_WORKERS=1 PORTCULLIS_LOG=warn taskset -c 1 "$1" serve --config "$2" >>"$4" 2>"$5" &
    LAUNCHED_PID=$!
    STARTED_PIDS+=("$LAUNCHED_PID")
    wait_http "$3" "$LAUNCHED_PID" || die "gateway on port $3 did not start: $(tail -5 "$5")"
}

# Creates an API key in the store of config $2 with binary $1 (before the gateway starts, so its
# key index holds the key from the start) and prints it; $3 collects the command's stderr.
create_api_key() { # binary config stderr
    local key
    key=$("$1" keys create --config "$2" --app bench 2>>"$3" | tail -1)
    [[ -n $key ]] || die "could not create an API key: $(cat "$3")"
    echo "$key"
}

# Waits until an HTTP server answers on 127.0.0.1:port (any status), at most 20 s.
wait_http() {
    local port=$1 pid=$2 i
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" && return 0
        sleep 0.1
    done
    return 1
}

stop_all() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${STARTED_PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    STARTED_PIDS=()
}
