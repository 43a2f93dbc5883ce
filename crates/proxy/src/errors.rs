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
}
