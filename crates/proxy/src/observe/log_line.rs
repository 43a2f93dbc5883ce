//! The access log line of one [`LogRecord`], written by the log thread.
//!
//! The record has a fixed shape, so its line is written field by field: the keys are constant
//! text, a string that needs no escaping (almost every one: ids, names, paths) is copied as it
//! is and only the others go through `serde_json`, and the time's text is formatted once per
//! second. Deriving `Serialize` and letting `serde_json` write the struct escaped every key and
//! value byte by byte and formatted the time from scratch: about 8,000 instructions per line,
//! on a thread that shares the machine's cores with the proxy. The output is the same JSON
//! (`lines_are_the_json_of_the_record` checks it against `serde_json` on random records).

use std::io::Write as _;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use super::LogRecord;

/// The RFC 3339 text of the current second (`2026-11-24T09:25:13.`), reused for every line
/// written within that second.
#[derive(Default)]
pub(super) struct Clock {
    second: Option<u64>,
    prefix: Vec<u8>,
}

impl Clock {
    /// Writes `t` as `humantime::format_rfc3339_millis` does (UTC, milliseconds truncated).
    fn write(&mut self, t: SystemTime, out: &mut Vec<u8>) {
        let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let second = since.as_secs();
        if self.second != Some(second) {
            let whole = SystemTime::UNIX_EPOCH + Duration::from_secs(second);
            self.prefix.clear();
            let _ = write!(self.prefix, "{}", humantime::format_rfc3339_seconds(whole));
            // `…:SSZ` → `…:SS.`: the milliseconds follow.
            self.prefix.pop();
            self.prefix.push(b'.');
            self.second = Some(second);
        }
        out.extend_from_slice(&self.prefix);
        let ms = since.subsec_millis();
        out.extend_from_slice(&[
            b'0' + (ms / 100) as u8,
            b'0' + (ms / 10 % 10) as u8,
            b'0' + (ms % 10) as u8,
            b'Z',
        ]);
    }
}

/// Appends `s` as a JSON string. Only control characters, `"` and `\` need escaping in JSON;
/// a string without any is its own text.
fn string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn uint(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// A float as `serde_json` writes it (shortest round-trip text; `null` if not finite).
fn float(out: &mut Vec<u8>, f: f64) {
    let _ = serde_json::to_writer(&mut *out, &f);
}

fn ip(out: &mut Vec<u8>, ip: IpAddr) {
    out.push(b'"');
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                uint(out, u64::from(octet));
            }
        }
        // An IPv6 address's text holds nothing JSON escapes.
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
    out.push(b'"');
}

/// Starts the member `name` of the object (after the first member): `,"name":`.
fn key<'o>(out: &'o mut Vec<u8>, name: &str) -> &'o mut Vec<u8> {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    out
}

impl LogRecord {
    /// Appends the record's JSON object (no line break) to `out`.
    pub(super) fn write_json(&self, clock: &mut Clock, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"time\":\"");
        clock.write(self.time, out);
        out.push(b'"');
        string(key(out, "request_id"), &self.request_id);
        string(key(out, "listener"), &self.listener);
        string(key(out, "environment"), &self.environment);
        opt_string(key(out, "api"), self.api.as_deref());
        opt_string(key(out, "flow"), self.flow.as_deref());
        string(key(out, "method"), self.method.as_str());
        string(key(out, "path"), &self.path);
        uint(key(out, "status"), u64::from(self.status));
        opt_string(key(out, "code"), self.code);
        float(key(out, "total_ms"), self.total_ms);
        match self.upstream_ms {
            Some(ms) => float(key(out, "upstream_ms"), ms),
            None => key(out, "upstream_ms").extend_from_slice(b"null"),
        }
        uint(key(out, "bytes_in"), self.bytes_in);
        uint(key(out, "bytes_out"), self.bytes_out);
        ip(key(out, "client_ip"), self.client_ip);
        opt_string(key(out, "app_id"), self.app_id.as_deref());
        opt_string(key(out, "developer_id"), self.developer_id.as_deref());
        opt_string(key(out, "product"), self.product.as_deref());
        key(out, "completed").extend_from_slice(if self.completed { b"true" } else { b"false" });
        if !self.events.is_empty() {
            key(out, "events").push(b'[');
            for (i, e) in self.events.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, e);
            }
            out.push(b']');
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    /// The record as the derived `Serialize` wrote it before (field names and order, `null`
    /// for absent values, `events` only when there are some).
    fn expected(r: &LogRecord) -> Value {
        let mut v = json!({
            "time": humantime::format_rfc3339_millis(r.time).to_string(),
            "request_id": &*r.request_id,
            "listener": &*r.listener,
            "environment": &*r.environment,
            "api": r.api.as_deref(),
            "flow": r.flow.as_deref(),
            "method": r.method.as_str(),
            "path": r.path,
            "status": r.status,
            "code": r.code,
            "total_ms": r.total_ms,
            "upstream_ms": r.upstream_ms,
            "bytes_in": r.bytes_in,
            "bytes_out": r.bytes_out,
            "client_ip": r.client_ip.to_string(),
            "app_id": r.app_id.as_deref(),
            "developer_id": r.developer_id.as_deref(),
            "product": r.product.as_deref(),
            "completed": r.completed,
        });
        if !r.events.is_empty() {
            v["events"] = json!(r.events);
        }
        v
    }

    const KEYS: [&str; 20] = [
        "time",
        "request_id",
        "listener",
        "environment",
        "api",
        "flow",
        "method",
        "path",
        "status",
        "code",
        "total_ms",
        "upstream_ms",
        "bytes_in",
        "bytes_out",
        "client_ip",
        "app_id",
        "developer_id",
        "product",
        "completed",
        "events",
    ];

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9_./-]{0,24}",
            // Quotes, backslashes, control characters, DEL, non-ASCII.
            "[a-z\"\\\\\u{0}-\u{1f}\u{7f}é€😀 ]{0,24}",
        ]
    }

    fn opt_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(text())
    }

    fn record() -> impl Strategy<Value = LogRecord> {
        (
            (
                0u64..4_000_000_000_000,
                text(),
                text(),
                text(),
                opt_text(),
                opt_text(),
            ),
            (
                text(),
                any::<u16>(),
                any::<bool>(),
                prop_oneof![Just(0.0), 0.0f64..1e7, Just(f64::NAN)],
                proptest::option::of(0.0f64..1e5),
                any::<u64>(),
                any::<u64>(),
            ),
            (
                prop_oneof![
                    any::<[u8; 4]>().prop_map(IpAddr::from),
                    any::<[u8; 16]>().prop_map(IpAddr::from),
                ],
                opt_text(),
                opt_text(),
                opt_text(),
                any::<bool>(),
                proptest::collection::vec(
                    prop_oneof![Just("threat.injection"), Just("quota.exceeded")],
                    0..3,
                ),
                prop_oneof![Just(http::Method::GET), Just(http::Method::POST)],
            ),
        )
            .prop_map(
                |(
                    (ms, request_id, listener, environment, api, flow),
                    (path, status, has_code, total_ms, upstream_ms, bytes_in, bytes_out),
                    (client_ip, app_id, developer_id, product, completed, events, method),
                )| LogRecord {
                    time: SystemTime::UNIX_EPOCH
                        + Duration::from_millis(ms)
                        + Duration::from_nanos(ms % 999_999),
                    request_id: request_id.into(),
                    listener: listener.into(),
                    environment: environment.into(),
                    api: api.map(Arc::from),
                    flow: flow.map(Arc::from),
                    method,
                    path,
                    status,
                    code: has_code.then_some("upstream.timeout"),
                    total_ms,
                    upstream_ms,
                    bytes_in,
                    bytes_out,
                    client_ip,
                    app_id: app_id.map(Arc::from),
                    developer_id: developer_id.map(Arc::from),
                    product: product.map(Arc::from),
                    completed,
                    events,
                },
            )
    }

    proptest! {
        /// Each line is one JSON object with the record's fields, in the documented order,
        /// with the values `serde_json` gives them; one clock serves many records (its cached
        /// second must not leak into the next line's).
        #[test]
        fn lines_are_the_json_of_the_record(records in proptest::collection::vec(record(), 1..6)) {
            let mut clock = Clock::default();
            for r in &records {
                let mut line = Vec::new();
                r.write_json(&mut clock, &mut line);
                let parsed: Value = serde_json::from_slice(&line).expect("a JSON line");
                // Through text as well: both floats are parsed back the same way.
                let want: Value = serde_json::from_str(&expected(r).to_string()).expect("JSON");
                prop_assert_eq!(&parsed, &want, "{}", String::from_utf8_lossy(&line));
                let text = String::from_utf8(line).expect("UTF-8");
                let order: Vec<usize> = KEYS
                    .iter()
                    .filter_map(|k| text.find(&format!("\"{k}\":")))
                    .collect();
                prop_assert!(order.windows(2).all(|w| w[0] < w[1]), "key order: {}", text);
            }
        }
    }

    #[test]
    fn times_within_one_second_share_its_text() {
        let mut clock = Clock::default();
        let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        for ms in [0, 7, 999, 1000, 1001, 61_042] {
            let t = base + Duration::from_millis(ms) + Duration::from_micros(999);
            let mut out = Vec::new();
            clock.write(t, &mut out);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                humantime::format_rfc3339_millis(t).to_string()
            );
        }
    }
}
