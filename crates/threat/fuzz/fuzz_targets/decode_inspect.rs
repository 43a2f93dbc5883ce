//! Fuzzes the injection decoding chain and detector: arbitrary bytes are split into a path,
//! a query, a header value and a body; nothing may panic, decoding must stay within its size
//! bounds, and findings must respect the fragment limit.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use portcullis_threat::injection::{
    Detector, DetectorConfig, FRAGMENT_MAX_CHARS, Location, decode,
};

fn detector() -> &'static Detector {
    static DET: OnceLock<Detector> = OnceLock::new();
    DET.get_or_init(|| {
        Detector::compile(&DetectorConfig {
            paranoia: 4,
            ..DetectorConfig::default()
        })
        .expect("default rules compile")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let max = 512;
    let v = decode::views(&text, max);
    // NFKC may expand, which is why the chain cuts again at twice the limit.
    assert!(v.decoded.len() <= max * 2);
    let det = detector();
    if let Some(f) = det.inspect(&Location::QueryParam("q".into()), &text) {
        assert!(f.fragment.chars().count() <= FRAGMENT_MAX_CHARS + 1);
    }
    let mut parts = text.splitn(4, '\u{1}');
    let path = parts.next().unwrap_or("/");
    let query = parts.next();
    let header = parts.next().unwrap_or("");
    let body = parts.next().map(str::as_bytes);
    let ct = match data.first().map(|b| b % 4) {
        Some(0) => Some("application/json"),
        Some(1) => Some("application/xml"),
        Some(2) => Some("application/x-www-form-urlencoded"),
        _ => None,
    };
    let findings = det.inspect_request(
        path,
        query,
        [
            ("User-Agent", header.as_bytes()),
            ("Cookie", header.as_bytes()),
        ],
        ct,
        body,
    );
    assert!(findings.len() <= portcullis_threat::injection::MAX_FINDINGS);
});
