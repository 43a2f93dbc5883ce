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
    method: &http::Method,
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
        if limits.reject_method_override
            && is_method_override(name.as_str())
            && !value
                .as_bytes()
                .trim_ascii()
                .eq_ignore_ascii_case(method.as_str().as_bytes())
        {
            return Err(GatewayError::bad_request().with_detail(
                "method override headers naming another method are not accepted: \
                 send the method itself",
            ));
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
    check_content_type(headers)
}

/// `Content-Type` is a singleton field (RFC 9110 §8.3). Two of them, a list in one, or a
/// repeated `charset` or `boundary` parameter leave each reader to pick its own: the body
/// policies would judge the body as one type or charset while the back end parses it as the
/// other (the first line `text/plain` keeps a `json-threat-protection` away from a body the
/// back end reads by the last line, `application/json`). Refused.
fn check_content_type(headers: &HeaderMap) -> Result<(), GatewayError> {
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let Some(value) = values.next() else {
        return Ok(());
    };
    let refuse = |detail: &'static str| Err(GatewayError::bad_request().with_detail(detail));
    if values.next().is_some() {
        return refuse("more than one Content-Type");
    }
    // The usual value (`application/json; charset=utf-8`) can hold neither a list nor a
    // repeated parameter: no splitting.
    let bytes = value.as_bytes();
    if !bytes.contains(&b',') && bytes.iter().filter(|&&b| b == b';').count() <= 1 {
        return Ok(());
    }
    let mut segments = split_unquoted(value.as_bytes(), b';');
    if segments.iter().any(|s| split_unquoted(s, b',').len() > 1) {
        return refuse("Content-Type holds a list");
    }
    segments.remove(0);
    let name = |p: &[u8]| {
        p.split(|&b| b == b'=')
            .next()
            .unwrap_or_default()
            .trim_ascii()
            .to_ascii_lowercase()
    };
    for key in [&b"charset"[..], b"boundary"] {
        if segments.iter().filter(|p| name(p) == key).count() > 1 {
            return refuse("repeated Content-Type parameter");
        }
    }
    Ok(())
}

/// `value` split at each `sep` outside a quoted string (RFC 9110 §5.6.4, with `\` escapes).
fn split_unquoted(value: &[u8], sep: u8) -> Vec<&[u8]> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, &b) in value.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            _ if b == sep && !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

/// The `_method` query parameter of a `POST`, which Spring's `HiddenHttpMethodFilter`, Symfony
/// and Laravel read as the method to run, is refused like the override headers when it names
/// another method. (In a form body it is not seen: the edge reads no bodies.)
pub fn check_method_parameter(
    method: &http::Method,
    query: Option<&str>,
    limits: &EdgeLimits,
) -> Result<(), GatewayError> {
    if !limits.reject_method_override || method != http::Method::POST {
        return Ok(());
    }
    // Back ends decode the name first: `%5Fmethod` is `_method` too.
    let Some(query) = query.filter(|q| q.contains("_method") || q.contains('%')) else {
        return Ok(());
    };
    let overrides = form_urlencoded::parse(query.as_bytes())
        .any(|(k, v)| k == "_method" && !v.trim().eq_ignore_ascii_case("POST"));
    if overrides {
        return Err(GatewayError::bad_request().with_detail(
            "a _method parameter naming another method is not accepted: send the method itself",
        ));
    }
    Ok(())
}

/// The headers back ends (Express's method-override, ASP.NET Web API, Google's APIs) read as
/// the method to run instead of the request's.
fn is_method_override(name: &str) -> bool {
    matches!(
        name,
        "x-http-method-override" | "x-http-method" | "x-method-override"
    )
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
            reject_method_override: true,
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
        head(http::Version::HTTP_11, &map)
    }

    /// `check_head` for a POST of `version` with exactly `map`, under [`limits`].
    fn head(version: http::Version, map: &HeaderMap) -> Result<(), GatewayError> {
        check_head(10, &http::Method::POST, version, map, &limits())
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
        let e = check_head(
            101,
            &http::Method::GET,
            http::Version::HTTP_11,
            &HeaderMap::new(),
            &limits(),
        )
        .unwrap_err();
        assert_eq!(e.status(), 414);
    }

    #[test]
    fn method_overrides_naming_another_method_are_refused() {
        // `check` sends a POST.
        for name in [
            "X-HTTP-Method-Override",
            "x-http-method",
            "X-Method-Override",
        ] {
            let e = check(&[(name, "DELETE")]).unwrap_err();
            assert_eq!(e.status(), 400, "{name}");
            assert!(check(&[(name, "post")]).is_ok(), "{name}");
        }
        assert!(check(&[("x-http-method-overrides", "DELETE")]).is_ok());
        let mut open = limits();
        open.reject_method_override = false;
        let mut map = HeaderMap::new();
        map.insert("x-http-method-override", HeaderValue::from_static("DELETE"));
        assert!(check_head(10, &http::Method::POST, http::Version::HTTP_2, &map, &open).is_ok());
    }

    #[test]
    fn method_parameters_naming_another_method_are_refused() {
        let post = &http::Method::POST;
        let l = limits();
        for q in [
            "_method=DELETE",
            "a=1&_method=put",
            "_method=%44ELETE",
            "%5Fmethod=DELETE",
            "_%6Dethod=DELETE",
        ] {
            let e = check_method_parameter(post, Some(q), &l).unwrap_err();
            assert_eq!(e.status(), 400, "{q}");
        }
        for q in ["_method=POST", "x_method=DELETE", "a=1"] {
            assert!(check_method_parameter(post, Some(q), &l).is_ok(), "{q}");
        }
        // Only a POST is overridden; and the switch that lets headers through lets this through.
        let get = &http::Method::GET;
        assert!(check_method_parameter(get, Some("_method=DELETE"), &l).is_ok());
        let mut open = limits();
        open.reject_method_override = false;
        assert!(check_method_parameter(post, Some("_method=DELETE"), &open).is_ok());
    }

    #[test]
    fn one_content_type() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "multipart/form-data; boundary=\"a,b;charset=x\"; charset=utf-8",
            "text/plain; x=\"\\\",\"",
        ] {
            assert!(check(&[("content-type", ok)]).is_ok(), "{ok}");
        }
        for bad in [
            "text/plain, application/json",
            "application/json; charset=utf-8; Charset=ibm037",
            "multipart/form-data; boundary=a; boundary=b",
            "text/plain; x=\"\\\"\", application/json",
        ] {
            let e = check(&[("content-type", bad)]).unwrap_err();
            assert_eq!(
                (e.status().as_u16(), e.code()),
                (400, "request.invalid"),
                "{bad}"
            );
        }
        let two = check(&[
            ("content-type", "text/plain"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(two.unwrap_err().status(), 400);
        // HTTP/2 as well: the rule is about the field, not the framing.
        let mut map = HeaderMap::new();
        map.append(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        map.append(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(head(http::Version::HTTP_2, &map).is_err());
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
        let e = head(http::Version::HTTP_11, &none).unwrap_err();
        assert_eq!(e.detail(), Some("an HTTP/1.1 request needs a Host header"));
        assert!(head(http::Version::HTTP_10, &none).is_ok());
        assert!(head(http::Version::HTTP_2, &none).is_ok());
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
