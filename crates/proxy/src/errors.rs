//! The one map from gateway errors to HTTP responses (problem+json). Every error a client of the
//! data plane sees is built here.

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use portcullis_core::{GatewayError, PROBLEM_CONTENT_TYPE, problem_body};

use crate::forwarding::X_REQUEST_ID;

/// Renders `err` for the client. Internal details were logged where the error arose; the body
/// carries only the stable code, title, client-safe detail and the request id.
pub fn error_response(err: &GatewayError, request_id: &str) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(problem_body(err, request_id)));
    *resp.status_mut() = err.status();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(&X_REQUEST_ID, v);
    }
    for (name, value) in err.headers() {
        h.append(name, value.clone());
    }
    if err.close_connection() {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// `resp` as HTTP/1.1 bytes, for the few answers written to a connection without hyper (a head
/// refused by the framing scanner, see [`crate::framing::ScanIo::refusing_heads_over`]).
pub fn http1_bytes(resp: &Response<Bytes>) -> Bytes {
    let status = resp.status();
    let mut out = Vec::with_capacity(256 + resp.body().len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in resp.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"content-length: ");
    out.extend_from_slice(itoa::Buffer::new().format(resp.body().len()).as_bytes());
    out.extend_from_slice(b"\r\ndate: ");
    out.extend_from_slice(httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(resp.body());
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_response_shape() {
        let err = GatewayError::key_missing().with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("APIKey realm=\"portcullis\""),
        );
        let resp = error_response(&err, "rid-1");
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        assert_eq!(resp.headers()["x-request-id"], "rid-1");
        assert!(resp.headers().contains_key("www-authenticate"));
        let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(v["code"], "key.missing");
        assert_eq!(v["request_id"], "rid-1");
    }

    #[test]
    fn http1_bytes_parse_back_to_the_response() {
        let err = GatewayError::headers_too_large().closing_connection();
        let resp = error_response(&err, "rid-2");
        let bytes = http1_bytes(&resp);
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut parsed = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(head_len) = parsed.parse(&bytes).unwrap() else {
            panic!("incomplete head");
        };
        assert_eq!(parsed.code, Some(431));
        assert_eq!(parsed.reason, Some("Request Header Fields Too Large"));
        let header = |name: &str| {
            parsed
                .headers
                .iter()
                .find(|h| h.name == name)
                .map(|h| std::str::from_utf8(h.value).unwrap())
        };
        assert_eq!(header("content-type"), Some("application/problem+json"));
        assert_eq!(header("connection"), Some("close"));
        assert_eq!(header("x-request-id"), Some("rid-2"));
        assert!(header("date").is_some_and(|d| d.ends_with(" GMT")));
        let body = &bytes[head_len..];
        assert_eq!(
            header("content-length"),
            Some(body.len().to_string().as_str())
        );
        assert_eq!(body, resp.body().as_ref());
    }
}
