//! Edge checks on the request head, before routing: size limits (414, 431), header names, and
//! request-smuggling ambiguity (400 and close). hyper already parses strictly; these checks add
//! the limits we promise with problem+json answers instead of bare status lines.

use http::{HeaderMap, header};
use portcullis_config::EdgeLimits;
use portcullis_core::GatewayError;

/// The refusal of a head with more than `limits.max_headers` fields (also answered by the
/// framing scanner, for heads hyper never parses: see `handler::refused_head`).
pub fn too_many_headers(limits: &EdgeLimits) -> GatewayError {
    GatewayError::headers_too_large()
        .with_detail(format!("more than {} header fields", limits.max_headers))
}

/// Checks one request head against the edge limits.
pub fn check_head(
    uri_len: usize,
    version: http::Version,
    headers: &HeaderMap,
    limits: &EdgeLimits,
) -> Result<(), GatewayError> {
    if uri_len > limits.max_uri_length {
        return Err(GatewayError::uri_too_long().with_detail(format!(
            "request target exceeds {} bytes",
            limits.max_uri_length
        )));
    }
    if headers.len() > limits.max_headers {
        return Err(too_many_headers(limits));
    }
    let mut total = 0usize;
    for (name, value) in headers {
        total += name.as_str().len() + value.len() + 4;
        if limits.reject_underscore_headers && name.as_str().contains('_') {
            return Err(GatewayError::bad_request()
                .with_detail("header names containing '_' are not accepted"));
        }
    }
    if total > limits.max_header_bytes {
        return Err(GatewayError::headers_too_large().with_detail(format!(
            "header block exceeds {} bytes",
            limits.max_header_bytes
        )));
    }
    if version <= http::Version::HTTP_11 {
        check_host(version, headers)?;
        check_framing(headers)?;
    }
    Ok(())
}

/// `uri-host [":" port]` (RFC 3986 §3.2.2): a bracketed IP literal or a registered name or
/// IPv4 address, then an optional numeric port; no user information, no path. Checked on the
/// bytes: `http::uri::Authority` would copy the value to the heap on every request.
fn valid_host(value: &[u8]) -> bool {
    let (host, port) = match value.iter().rposition(|&b| b == b':') {
        Some(colon) if !value.ends_with(b"]") => (&value[..colon], &value[colon + 1..]),
        _ => (value, &b""[..]),
    };
    let host_ok = match host {
        [b'[', literal @ .., b']'] => {
            !literal.is_empty()
                && literal
                    .iter()
                    .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
        }
        _ => {
            !host.is_empty()
                && host
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b))
        }
    };
    host_ok && port.iter().all(u8::is_ascii_digit)
}

/// RFC 9112 §3.2: an HTTP/1.1 request has exactly one `Host`, an HTTP/1.0 one at most, and its
/// value is a host and optional port. Two hosts in one request are read differently by
/// different parties (the first, the last, the routed one), which is what host-confusion
/// attacks on caches and virtual hosts rely on.
fn check_host(version: http::Version, headers: &HeaderMap) -> Result<(), GatewayError> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let refuse = |detail: &'static str| Err(GatewayError::bad_request().with_detail(detail));
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => refuse("more than one Host header"),
        (None, None) if version == http::Version::HTTP_11 => {
            refuse("an HTTP/1.1 request needs a Host header")
        }
        (Some(host), None) if !valid_host(host.as_bytes()) => refuse("invalid Host header"),
        _ => Ok(()),
    }
}

/// Refuses ambiguous HTTP/1 message framing: both Content-Length and Transfer-Encoding, several
/// differing Content-Length values, or a Transfer-Encoding other than a final `chunked`.
/// The connection is closed after the answer, since the peer's idea of where this request ends
/// cannot be trusted.
fn check_framing(headers: &HeaderMap) -> Result<(), GatewayError> {
    let smuggling = |detail: &'static str| {
        Err(GatewayError::bad_request()
            .with_detail(detail)
            .closing_connection())
    };
    let te = headers.get_all(header::TRANSFER_ENCODING);
    let has_te = te.iter().next().is_some();
    let mut cls = headers.get_all(header::CONTENT_LENGTH).iter();
    if let Some(first) = cls.next() {
        if has_te {
            return smuggling("both Content-Length and Transfer-Encoding are present");
        }
        if cls.any(|v| v != first) {
            return smuggling("conflicting Content-Length values");
        }
    }
    if has_te {
        let joined: Vec<String> = te
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_ascii_lowercase())
            .collect();
        if joined.last().map(String::as_str) != Some("chunked")
            || joined.iter().filter(|s| *s == "chunked").count() != 1
        {
            return smuggling("unsupported Transfer-Encoding");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn limits() -> EdgeLimits {
        EdgeLimits {
            header_read_timeout: std::time::Duration::from_secs(10),
            max_uri_length: 100,
            max_header_bytes: 200,
            max_headers: 3,
            reject_underscore_headers: true,
            shutdown_grace: std::time::Duration::from_secs(1),
        }
    }

    /// Checks an HTTP/1.1 head with `h` (and `Host: a` unless `h` has a host).
    fn check(h: &[(&str, &str)]) -> Result<(), GatewayError> {
        let mut map = HeaderMap::new();
        if !h.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            map.insert(header::HOST, HeaderValue::from_static("a"));
        }
        for (k, v) in h {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        check_head(10, http::Version::HTTP_11, &map, &limits())
    }

    #[test]
    fn limits_and_names() {
        assert!(check(&[("a", "1")]).is_ok());
        assert_eq!(
            check(&[("a", "1"), ("b", "1"), ("c", "1"), ("d", "1")])
                .unwrap_err()
                .status(),
            431
        );
        assert_eq!(check(&[("a", &"x".repeat(300))]).unwrap_err().status(), 431);
        assert_eq!(
            check(&[("x_forwarded_for", "1")]).unwrap_err().status(),
            400
        );
        let e = check_head(101, http::Version::HTTP_11, &HeaderMap::new(), &limits()).unwrap_err();
        assert_eq!(e.status(), 414);
    }

    #[test]
    fn one_valid_host() {
        for ok in [
            "a",
            "api.example.com:8443",
            "[2001:db8::1]:80",
            "[::1]",
            "127.0.0.1",
            "a:",
        ] {
            assert!(check(&[("host", ok)]).is_ok(), "{ok}");
        }
        for bad in [
            "a b",
            "a/b",
            "user@a",
            "a:port",
            "[::1]:x",
            "",
            ":80",
            "2001:db8::1",
            "[]",
            "a\\b",
        ] {
            assert_eq!(
                check(&[("host", bad)]).unwrap_err().status(),
                400,
                "{bad:?}"
            );
        }
        assert_eq!(
            check(&[("host", "a"), ("host", "b")]).unwrap_err().status(),
            400
        );
        assert_eq!(
            check(&[("host", "a"), ("host", "a")]).unwrap_err().status(),
            400
        );
        let none = HeaderMap::new();
        let e = check_head(10, http::Version::HTTP_11, &none, &limits()).unwrap_err();
        assert_eq!(e.detail(), Some("an HTTP/1.1 request needs a Host header"));
        assert!(check_head(10, http::Version::HTTP_10, &none, &limits()).is_ok());
        assert!(check_head(10, http::Version::HTTP_2, &none, &limits()).is_ok());
    }

    #[test]
    fn smuggling_closes() {
        for h in [
            vec![("content-length", "5"), ("transfer-encoding", "chunked")],
            vec![("content-length", "5"), ("content-length", "6")],
            vec![("transfer-encoding", "gzip")],
            vec![("transfer-encoding", "chunked, chunked")],
        ] {
            let e = check(&h).unwrap_err();
            assert_eq!(e.status(), 400, "{h:?}");
            assert!(e.close_connection());
        }
        assert!(check(&[("transfer-encoding", "chunked")]).is_ok());
        assert!(check(&[("content-length", "5"), ("content-length", "5")]).is_ok());
    }
}
