#!/usr/bin/env python3
"""Turns the raw files written by bench/run.sh into the markdown report.

    report.py median-rps RAW_DIR SCENARIO   # median req/s of one scenario (for the open-loop rate)
    report.py markdown RAW_DIR              # the full report on stdout
    report.py threat RAW_DIR                # only the 10 KB JSON POST scenarios (THREAT_ONLY=1)
    report.py oauth RAW_DIR                 # only S2 and the token scenarios (OAUTH_ONLY=1)
"""

import csv
import json
import os
import re
import statistics
import sys
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
NAMES = {
    "S0": "S0 upstream directly (nginx `return 200`)",
    "S1": "S1 nginx reverse proxy (1 worker, keep-alive pool)",
    "SH": "SH bare hyper + tokio proxy (the stack's floor, `hyper_floor`)",
    "S2": "S2 Portcullis, plain proxy",
    "S3": "S3 Portcullis + verify-api-key + spike-arrest + access log",
    "S2P": "S2P Portcullis, plain proxy, POST of a 10 KB JSON order",
    "S5": "S5 Portcullis + json-threat-protection + injection-protection + openapi-validation, same POST",
    "S6R": "S6R verify-oauth-token, RS256 JWT access token",
    "S6E": "S6E verify-oauth-token, ES256 JWT access token",
    "S7R": "S7R verify-jwt (JWKS over HTTP), RS256 JWT",
    "S7E": "S7E verify-jwt (JWKS over HTTP), ES256 JWT",
    "S8": "S8 verify-oauth-token + phantom-token (opaque in, cached RS256 JWT out)",
}
OAUTH = ("S6R", "S6E", "S7R", "S7E", "S8")
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"bad wrk duration {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_wrk(path: Path) -> dict:
    t = path.read_text()
    out = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)),
        "requests": int(re.search(r"(\d+) requests in", t).group(1)),
        "p50": ms(re.search(r"^\s+50%\s+(\S+)", t, re.M).group(1)),
        "p99": ms(re.search(r"^\s+99%\s+(\S+)", t, re.M).group(1)),
        "bad": 0,
    }
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", t):
        out["bad"] += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t):
        out["bad"] += sum(int(x) for x in m.groups())
    return out


def parse_open(path: Path) -> dict:
    """oha JSON, or h2load's per-request log next to its text output."""
    log = Path(str(path) + ".log")
    if log.exists():
        rows = [line.split("\t") for line in log.read_text().splitlines() if line.strip()]
        lat = sorted(int(r[2]) / 1000.0 for r in rows)
        bad = sum(1 for r in rows if r[1] != "200")
        span = (max(int(r[0]) for r in rows) - min(int(r[0]) for r in rows)) / 1e6 or 1
        return {"p50": pct(lat, 50), "p99": pct(lat, 99), "requests": len(rows), "rps": len(rows) / span, "bad": bad}
    j = json.loads(path.read_text())
    codes = j.get("statusCodeDistribution", {})
    ok = int(codes.get("200", 0))
    # Requests still in flight when the duration ends are not failures of the server.
    errors = {k: v for k, v in j.get("errorDistribution", {}).items() if k != "aborted due to deadline"}
    total = sum(int(v) for v in codes.values()) + sum(int(v) for v in errors.values())
    return {
        "p50": j["latencyPercentiles"]["p50"] * 1000.0,
        "p99": j["latencyPercentiles"]["p99"] * 1000.0,
        "requests": total,
        "rps": j["summary"]["requestsPerSec"],
        "bad": total - ok,
    }


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def runs(raw: Path, kind: str) -> dict:
    """scenario -> list of per-run dicts (load-generator figures + CPU accounting)."""
    out = {}
    with open(raw / f"{kind}.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            s, r = row["scenario"], row["run"]
            fig = parse_wrk(raw / kind / f"{s}-{r}.txt") if kind == "closed" else parse_open(raw / kind / f"{s}-{r}.out")
            req = max(fig["requests"], 1)
            us = 1e6 / CLK_TCK
            fig["sut_us"] = int(row["sut_ticks"]) * us / req
            fig["up_us"] = int(row["upstream_ticks"]) * us / req
            total1 = max(int(row["cpu1_total"]), 1)
            foreign = int(row["cpu1_busy"]) - int(row["sut_ticks"]) - int(row["upstream_ticks"])
            fig["cpu1_other"] = 100.0 * max(foreign, 0) / total1
            fig["cpu0_busy"] = 100.0 * int(row["cpu0_busy"]) / max(int(row["cpu0_total"]), 1)
            idle, ok = row["gate"].split(":")
            fig["gate_idle"], fig["gate_ok"] = int(idle), ok == "1"
            out.setdefault(s, []).append(fig)
    return out


def med(rs, key):
    return statistics.median(r[key] for r in rs)


def machine(raw: Path) -> dict:
    return dict(line.split("=", 1) for line in (raw / "machine.txt").read_text().splitlines() if "=" in line)


def markdown(raw: Path) -> str:
    m = machine(raw)
    closed, opened = runs(raw, "closed"), runs(raw, "open")
    s1 = med(closed["S1"], "rps")
    o = []
    o.append(f"# Portcullis benchmark, {m['date']}\n")
    o.append(f"- Machine: {m['host_cpu']}, {m['nproc']} CPUs, kernel {m['kernel']}, {m['os']}")
    o.append(f"- Tools: nginx {m['nginx']}, wrk {m['wrk']}, open loop: {m['open_loop_tool']}")
    o.append(f"- Gateway: {m['gateway']}, binary `{m.get('binary', '?')}`, `PORTCULLIS_WORKERS=1`")
    o.append(f"- Command: `{m['command'].strip()}`; {m['settings']}")
    o.append("- Layout A: load generator on CPU 0; proxy and upstream on CPU 1; loopback\n")

    o.append(f"## Throughput (closed loop: `taskset -c 0 wrk -t1 -c{m.get('conns', '?')} -d{m.get('duration', '?')}s --latency`)\n")
    o.append("| scenario | req/s median (min–max) | ÷ S1 nginx | p50 ms | p99 ms | CPU-µs/req proxy | CPU-µs/req upstream | CPU 1 other busy | errors |")
    o.append("|---|---|---|---|---|---|---|---|---|")
    for s, rs in closed.items():
        up = "(is the proxy)" if s == "S0" else f"{med(rs, 'up_us'):.1f}"
        o.append(
            f"| {NAMES[s]} | {med(rs, 'rps'):,.0f} ({min(r['rps'] for r in rs):,.0f}–{max(r['rps'] for r in rs):,.0f}) "
            f"| {med(rs, 'rps') / s1:.2f} | {med(rs, 'p50'):.2f} | {med(rs, 'p99'):.2f} "
            f"| {med(rs, 'sut_us'):.1f} | {up} | {med(rs, 'cpu1_other'):.0f}% | {sum(r['bad'] for r in rs)} |"
        )
    if "SH" in closed and "S2" in closed:
        sh = med(closed["SH"], "rps")
        o.append(
            f"\nThe stack's floor (SH, hyper + tokio forwarding and nothing else) reaches {sh / s1:.2f}× nginx; "
            f"the plain gateway (S2) reaches {med(closed['S2'], 'rps') / sh:.2f}× that floor, "
            f"with policies (S3) {med(closed['S3'], 'rps') / sh:.2f}×."
        )
    rate = m.get("open_rate", "?")
    o.append(f"\n## Latency at a fixed offered load (open loop, {rate} req/s, {m['open_loop_tool'].split()[0]}; S1's peak: {s1:,.0f})\n")
    o.append("| scenario | p50 ms | p99 ms (min–max) | p99 − direct ms | achieved req/s | CPU-µs/req proxy | errors |")
    o.append("|---|---|---|---|---|---|---|")
    direct = med(opened["S0"], "p99") if "S0" in opened else float("nan")
    for s, rs in opened.items():
        o.append(
            f"| {NAMES[s]} | {med(rs, 'p50'):.3f} | {med(rs, 'p99'):.3f} ({min(r['p99'] for r in rs):.3f}–{max(r['p99'] for r in rs):.3f}) "
            f"| {med(rs, 'p99') - direct:+.3f} | {med(rs, 'rps'):,.0f} | {med(rs, 'sut_us'):.1f} | {sum(r['bad'] for r in rs)} |"
        )

    mem = list(csv.DictReader(open(raw / "memory.tsv"), delimiter="\t")) if (raw / "memory.tsv").exists() else []
    if mem:
        o.append("\n## Memory with idle keep-alive connections (one request each, then idle)\n")
        o.append("| process | RSS before | RSS with the connections open | per connection | helper |")
        o.append("|---|---|---|---|---|")
        for row in mem:
            b, a = int(row["rss_before_kib"]), int(row["rss_after_kib"])
            ok = re.search(r"ok=(\d+)", row["helper"])
            n = int(ok.group(1)) if ok else 0
            per = f"{(a - b) / n:.1f} KiB" if n else "-"
            o.append(f"| {row['target']} | {b / 1024:.1f} MiB | {a / 1024:.1f} MiB | {per} | {row['helper'].strip()} |")

    o.append("\n## Targets\n")
    o.append("| target | goal | measured | met |")
    o.append("|---|---|---|---|")

    def line(name, goal, value, met):
        o.append(f"| {name} | {goal} | {value} | {'yes' if met else '**no**'} |")

    r2, r3 = med(closed["S2"], "rps") / s1, med(closed["S3"], "rps") / s1
    line("plain proxy req/s ÷ nginx", "≥ 1.0", f"{r2:.2f}", r2 >= 1.0)
    line("with policies req/s ÷ nginx", "≥ 0.9", f"{r3:.2f}", r3 >= 0.9)
    if "S5" in closed and "S2P" in closed:
        r5 = med(closed["S5"], "rps") / med(closed["S2P"], "rps")
        line("three body checks req/s ÷ plain proxy, same 10 KB POST", "≥ 0.8", f"{r5:.2f}", r5 >= 0.8)
    if "S2" in opened:
        added = med(opened["S2"], "p99") - direct
        offered = float(m.get("open_rate", "0") or 0)
        kept_up = all(med(opened[s], "rps") >= 0.95 * offered for s in ("S0", "S2"))
        note = "" if kept_up else " (offered load not sustained: figure not valid)"
        line(f"p99 added over direct at {offered:,.0f} req/s (half of S1's peak: {s1 / 2:,.0f})", "≤ 1 ms", f"{added:.3f} ms{note}", added <= 1.0 and kept_up)
    gw_mem = [r for r in mem if r["target"].startswith("Portcullis")]
    if gw_mem:
        a = int(gw_mem[0]["rss_after_kib"]) / 1024
        held = re.search(r"alive=(\d+)", gw_mem[0]["helper"])
        held = int(held.group(1)) if held else 0
        line("RSS with 10,000 idle keep-alive connections", "≤ 64 MiB", f"{a:.1f} MiB with {held:,} open", a <= 64 and held >= 10_000)

    if any(s in closed for s in OAUTH):
        o.append("")
        o.extend(oauth_lines(closed))

    allruns = [r for rs in list(closed.values()) + list(opened.values()) for r in rs]
    loud = [r for r in allruns if not r["gate_ok"]]
    other = statistics.median(r["cpu1_other"] for r in allruns)
    o.append("\n## Conditions\n")
    o.append(
        f"- Quiet gate (≥ 90% idle over 3 s before each run): {len(allruns) - len(loud)} of {len(allruns)} runs started quiet"
        + (f"; **{len(loud)} ran under load** (idle at start {min(r['gate_idle'] for r in loud)}–{max(r['gate_idle'] for r in loud)}%)" if loud else "")
    )
    o.append(f"- CPU 1 busy outside the contenders' processes during runs (softirq + other work), median: {other:.0f}%")
    o.append(f"- CPU 0 (load generator) busy during closed-loop runs, median: {statistics.median(r['cpu0_busy'] for rs in closed.values() for r in rs):.0f}%")
    return "\n".join(o) + "\n"


def threat(raw: Path) -> str:
    """The POST scenarios alone: S5 (three body checks) against S2P (plain proxy), same body."""
    m = machine(raw)
    closed = runs(raw, "closed")
    base = med(closed["S2P"], "rps")
    o = [f"# Portcullis threat-check benchmark, {m['date']}\n"]
    o.append(f"- Machine: {m['host_cpu']}, {m['nproc']} CPUs, kernel {m['kernel']}, {m['os']}")
    o.append(f"- Gateway: {m['gateway']}, binary `{m.get('binary', '?')}`, `PORTCULLIS_WORKERS=1`")
    o.append(f"- Command: `{m['command'].strip()}`; {m['settings']}")
    o.append("- Body: `crates/threat/benches/data/order-10k.json` (10,115 bytes) to `POST /orders`\n")
    o.append("| scenario | req/s median (min–max) | ÷ S2P | p50 ms | p99 ms | CPU-µs/req proxy | errors |")
    o.append("|---|---|---|---|---|---|---|")
    for s in ("S2P", "S5"):
        rs = closed[s]
        o.append(
            f"| {NAMES[s]} | {med(rs, 'rps'):,.0f} ({min(r['rps'] for r in rs):,.0f}–{max(r['rps'] for r in rs):,.0f}) "
            f"| {med(rs, 'rps') / base:.2f} | {med(rs, 'p50'):.2f} | {med(rs, 'p99'):.2f} | {med(rs, 'sut_us'):.1f} "
            f"| {sum(r['bad'] for r in rs)} |"
        )
    added = med(closed["S5"], "sut_us") - med(closed["S2P"], "sut_us")
    ratio = med(closed["S5"], "rps") / base
    o.append(f"\nThe three checks add {added:.1f} CPU-µs per request; S5 ÷ S2P = **{ratio:.2f}** (target ≥ 0.8: {'met' if ratio >= 0.8 else 'not met'}).")
    allruns = [r for rs in closed.values() for r in rs]
    loud = [r for r in allruns if not r["gate_ok"]]
    o.append(f"\n- Quiet gate: {len(allruns) - len(loud)} of {len(allruns)} runs started quiet" + (f"; **{len(loud)} ran under load**" if loud else ""))
    o.append(f"- CPU 1 busy outside the contenders' processes, median: {statistics.median(r['cpu1_other'] for r in allruns):.0f}%")
    return "\n".join(o) + "\n"


def oauth_lines(closed: dict) -> list:
    """The token scenarios against S2 (plain proxy, same run): ratio and added CPU per request."""
    base, base_us = med(closed["S2"], "rps"), med(closed["S2"], "sut_us")
    o = ["## Token-protected proxy vs plain proxy (same run; target ≥ 0.9 × S2)\n"]
    o.append("| scenario | req/s median (min–max) | ÷ S2 | met | CPU-µs/req proxy | added over S2 | p99 ms | errors |")
    o.append("|---|---|---|---|---|---|---|---|")
    for s in ("S2",) + OAUTH:
        if s not in closed:
            continue
        rs = closed[s]
        ratio = med(rs, "rps") / base
        met = "-" if s == "S2" else ("yes" if ratio >= 0.9 else "**no**")
        o.append(
            f"| {NAMES[s]} | {med(rs, 'rps'):,.0f} ({min(r['rps'] for r in rs):,.0f}–{max(r['rps'] for r in rs):,.0f}) "
            f"| {ratio:.2f} | {met} | {med(rs, 'sut_us'):.1f} | {med(rs, 'sut_us') - base_us:+.1f} | {med(rs, 'p99'):.2f} "
            f"| {sum(r['bad'] for r in rs)} |"
        )
    return o


def oauth(raw: Path) -> str:
    m = machine(raw)
    closed = runs(raw, "closed")
    o = [f"# Portcullis token-check benchmark, {m['date']}\n"]
    o.append(f"- Machine: {m['host_cpu']}, {m['nproc']} CPUs, kernel {m['kernel']}, {m['os']}")
    o.append(f"- Gateway: {m['gateway']}, binary `{m.get('binary', '?')}`, `PORTCULLIS_WORKERS=1`")
    o.append(f"- Command: `{m['command'].strip()}`; {m['settings']}")
    o.append("- One token per scenario, obtained by client_credentials from the built-in server before the runs\n")
    o.extend(oauth_lines(closed))
    allruns = [r for rs in closed.values() for r in rs]
    loud = [r for r in allruns if not r["gate_ok"]]
    o.append(f"\n- Quiet gate: {len(allruns) - len(loud)} of {len(allruns)} runs started quiet" + (f"; **{len(loud)} ran under load** (figures measured under load)" if loud else ""))
    o.append(f"- CPU 1 busy outside the contenders' processes, median: {statistics.median(r['cpu1_other'] for r in allruns):.0f}%")
    return "\n".join(o) + "\n"


def main() -> None:
    cmd, raw = sys.argv[1], Path(sys.argv[2])
    if cmd == "median-rps":
        print(int(med(runs(raw, "closed")[sys.argv[3]], "rps")))
    elif cmd == "markdown":
        sys.stdout.write(markdown(raw))
    elif cmd == "threat":
        sys.stdout.write(threat(raw))
    elif cmd == "oauth":
        sys.stdout.write(oauth(raw))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
