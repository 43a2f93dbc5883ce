//! How much memory the injection detector's regex caches take under varied input (the
//! "Memory under hostile input" figures in docs/security.md).
//!
//! `cargo run --release -p portcullis-threat --example detector_memory -- DIR [N]` reads every
//! file in DIR (a fuzz corpus, e.g. the scratch corpus `scripts/fuzz-smoke.sh` or a longer
//! libFuzzer run of `decode_inspect` leaves behind), then inspects N values (default 200,000),
//! each two of those inputs joined, as query parameters, a header and a JSON string, on one
//! thread, printing the process RSS and the time taken after each fifth of them. Compare
//! cache capacities by editing `SET_DFA_CACHE` in `src/injection/engine.rs`.

use std::time::Instant;

use portcullis_threat::injection::{Detector, DetectorConfig, Location};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: detector_memory DIR [N]");
        std::process::exit(2);
    };
    let n: usize = args
        .next()
        .map_or(200_000, |s| s.parse().expect("N is a number"));
    let mut inputs: Vec<String> = std::fs::read_dir(&dir)
        .expect("DIR is readable")
        .map(|e| {
            let bytes = std::fs::read(e.expect("a directory entry").path()).expect("readable");
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .collect();
    assert!(!inputs.is_empty(), "{dir} holds no inputs");
    // The same pairs on every run over the same corpus.
    inputs.sort();
    let det = Detector::compile(&DetectorConfig::default()).expect("default rules compile");
    println!("compiled: RSS {} kB", rss_kb());
    let started = Instant::now();
    let mut findings = 0usize;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 1..=n {
        // xorshift: two inputs per value, spread over the corpus.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let a = &inputs[(x % inputs.len() as u64) as usize];
        let b = &inputs[((x >> 32) % inputs.len() as u64) as usize];
        let value = format!("{a}{b}");
        findings += usize::from(
            det.inspect(&Location::QueryParam("q".into()), &value)
                .is_some(),
        );
        let body = serde_json::to_vec(&serde_json::json!({ "a": value })).expect("serialises");
        findings += det
            .inspect_request(
                "/x",
                Some(&value),
                [("User-Agent", a.as_bytes())],
                Some("application/json"),
                Some(&body),
            )
            .len();
        if i % (n / 5).max(1) == 0 {
            println!(
                "{i} values: RSS {} kB, {:.3} ms per value, {findings} findings",
                rss_kb(),
                started.elapsed().as_secs_f64() * 1000.0 / i as f64
            );
        }
    }
}

/// The process's resident set size (Linux).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
