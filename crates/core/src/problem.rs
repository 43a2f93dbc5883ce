//! RFC 9457 problem details: the one body shape of every gateway error.

use crate::GatewayError;

/// Media type of every error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Serialises `err` as a problem+json document carrying the request id.
///
/// `type` is a URN built from the stable code so clients can switch on either.
pub fn problem_body(err: &GatewayError, request_id: &str) -> Vec<u8> {
    let mut doc = serde_json::Map::new();
    if let Some(extra) = err.extra() {
        for (k, v) in extra {
            doc.insert(k.clone(), v.clone());
        }
    }
    doc.insert(
        "type".into(),
        format!("urn:portcullis:error:{}", err.code()).into(),
    );
    doc.insert("title".into(), err.title().into());
    doc.insert("status".into(), err.status().as_u16().into());
    doc.insert("code".into(), err.code().into());
    if let Some(detail) = err.detail() {
        doc.insert("detail".into(), detail.into());
    }
    doc.insert("request_id".into(), request_id.into());
    serde_json::to_vec(&doc).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_stable_members() {
        let err = GatewayError::key_invalid().with_detail("unknown key");
        let v: serde_json::Value = serde_json::from_slice(&problem_body(&err, "req-1")).unwrap();
        assert_eq!(v["code"], "key.invalid");
        assert_eq!(v["status"], 401);
        assert_eq!(v["type"], "urn:portcullis:error:key.invalid");
        assert_eq!(v["detail"], "unknown key");
        assert_eq!(v["request_id"], "req-1");
    }

    #[test]
    fn extra_cannot_override_core_members() {
        let err = GatewayError::bad_request().with_extra("code", "evil".into());
        let v: serde_json::Value = serde_json::from_slice(&problem_body(&err, "r")).unwrap();
        assert_eq!(v["code"], "request.invalid");
    }
}
