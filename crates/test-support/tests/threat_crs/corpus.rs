//! The CRS and benign corpora to replay through the gateway: the loader and selection rules are
//! the engine test's own (`crates/threat/tests/support/crs.rs`, included by path so the two
//! measurements cannot drift apart); this file adds how a request goes on the wire.

#[path = "../../../threat/tests/support/crs.rs"]
mod crs;

pub(crate) use crs::{Req, load_family, load_own_benign, paranoia_levels};
use portcullis_threat::injection::Detector;

/// Sending a corpus request to the gateway.
pub(crate) trait Replay {
    /// The request bytes, framing recomputed.
    fn wire(&self) -> Vec<u8>;
    /// The request as a conforming client would encode it.
    fn conformant(&self) -> Req;
    /// Whether the detector alone blocks it.
    fn engine_blocks(&self, det: &Detector) -> bool;
}

impl Replay for Req {
    /// The request bytes: the corpus's method, URI, headers and body; framing headers are
    /// recomputed (the corpus's are often stale) and the connection closes after the answer.
    fn wire(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.uri).into_bytes();
        let mut host = false;
        for (k, v) in &self.headers {
            let lk = k.to_ascii_lowercase();
            if matches!(
                lk.as_str(),
                "content-length" | "transfer-encoding" | "connection" | "keep-alive"
            ) {
                continue;
            }
            host |= lk == "host";
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        if !host {
            out.extend_from_slice(b"Host: localhost\r\n");
        }
        let body = self.body.as_deref().unwrap_or("");
        if !body.is_empty() || self.method != "GET" {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        out.extend_from_slice(body.as_bytes());
        out
    }

    /// The request as a conforming client would send it: bytes RFC 3986 does not allow in a
    /// request target (space, `"`, `<`, `>`, `{`, `}`, `|`, `\\`, `^`, `` ` ``, controls,
    /// non-ASCII) percent-encoded; existing escapes are kept.
    fn conformant(&self) -> Req {
        let mut uri = String::with_capacity(self.uri.len());
        for b in self.uri.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~:/?[]@!$&'()*+,;=%".contains(&b) {
                uri.push(char::from(b));
            } else {
                uri.push_str(&format!("%{b:02X}"));
            }
        }
        Req {
            uri,
            ..self.clone()
        }
    }

    fn engine_blocks(&self, det: &Detector) -> bool {
        !self.inspect(det).is_empty()
    }
}
