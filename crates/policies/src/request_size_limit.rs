//! `request-size-limit`: refuses request bodies larger than `max`, protecting upstreams (and the
//! gateway's own buffers) from oversized uploads and memory exhaustion.
//!
//! Request phase only. A declared `Content-Length` above the limit, or an already buffered body
//! above it, is rejected at once with 413 `request.body_too_large`; the connection is then closed
//! rather than drained, so a client cannot make the gateway read gigabytes it has refused. A body
//! of unknown length (chunked) cannot be judged yet: the policy records [`BodyLimit`] in the
//! request extensions and the proxy enforces it while streaming. That deferred check is the
//! proxy's, so it applies even when this policy runs in monitor mode.

use std::sync::Arc;

use async_trait::async_trait;
use http::header::CONTENT_LENGTH;
use portcullis_core::{ByteSize, GatewayError};
use portcullis_policy::{Decision, Exchange, Phase, Policy};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::registry::{CompileCtx, CompileError, PolicyConfig};

const KIND: &str = "request-size-limit";

/// Config of `request-size-limit`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RequestSizeLimitConfig {
    /// Largest request body accepted, e.g. `64KiB` or `10MB` (0 refuses any body).
    pub max: ByteSize,
}

/// The body limit the proxy enforces while streaming a request body of unknown length (defined
/// in the policy crate, as it is the contract between policies and the proxy). When several
/// policies set one, the smallest wins.
pub use portcullis_policy::BodyLimit;

/// The compiled policy.
#[derive(Debug)]
pub struct RequestSizeLimit {
    max: u64,
    detail: String,
}

// === impl RequestSizeLimitConfig ===

impl PolicyConfig for RequestSizeLimitConfig {
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        if ctx.phase == Phase::Response {
            return Err(vec![CompileError::at(
                "",
                "request-size-limit guards requests; place it in a request list",
            )]);
        }
        Ok(Arc::new(RequestSizeLimit {
            max: self.max.0,
            detail: format!("the request body must not exceed {} bytes", self.max.0),
        }))
    }
}

// === impl RequestSizeLimit ===

impl RequestSizeLimit {
    fn too_large(&self) -> GatewayError {
        GatewayError::body_too_large().with_detail(self.detail.clone())
    }
}

/// The largest declared `Content-Length`, if any value parses (malformed or conflicting values
/// are the proxy's to refuse; here only a size that is surely too large matters).
fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get_all(CONTENT_LENGTH)
        .iter()
        .filter_map(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .max()
}

#[async_trait]
impl Policy for RequestSizeLimit {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        if let Some(body) = ex.body.wire() {
            let len = u64::try_from(body.len()).unwrap_or(u64::MAX);
            return if len > self.max {
                Err(self.too_large())
            } else {
                Ok(Decision::Continue)
            };
        }
        if declared_length(&ex.request.headers).is_some_and(|len| len > self.max) {
            return Err(self.too_large().closing_connection());
        }
        let limit = match ex.request.extensions.get::<BodyLimit>() {
            Some(BodyLimit(existing)) => (*existing).min(self.max),
            None => self.max,
        };
        ex.request.extensions.insert(BodyLimit(limit));
        Ok(Decision::Continue)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use portcullis_policy::{Mode, RequestBody, RequestOutcome};
    use serde_json::json;

    use super::*;
    use crate::test_util::{
        compile_errors, compile_in, entry, err, exchange, request_pipeline, run,
    };

    #[test]
    fn config_is_validated() {
        crate::test_util::assert_schema_documented::<RequestSizeLimitConfig>();
        assert_eq!(entry(KIND, json!({ "max": "64KiB" })).policy.kind(), KIND);
        assert!(compile_in(KIND, json!({ "max": 0 }), Phase::Request).is_ok());
        assert_eq!(
            compile_errors(KIND, json!({ "max": "64XB" })),
            [err(
                "max",
                "invalid size unit 'XB' in '64XB': use B, KB, KiB, MB, MiB, GB or GiB"
            )]
        );
        assert_eq!(
            compile_errors(KIND, json!({})),
            [err("", "missing field `max`")]
        );
        assert_eq!(
            compile_in(KIND, json!({ "max": 1 }), Phase::Response).unwrap_err(),
            [err(
                "",
                "request-size-limit guards requests; place it in a request list"
            )]
        );
    }

    #[tokio::test]
    async fn declared_length_over_the_limit_is_rejected() {
        let p = request_pipeline(vec![entry(KIND, json!({ "max": "1KiB" }))]);
        let mut ex = exchange("POST", "/", &[("content-length", "1025")]);
        let done = run(&p, &mut ex, 200).await;
        assert_eq!(done.code(), Some("request.body_too_large"));
        assert_eq!(done.response.status, 413);
        let RequestOutcome::Fail(e) = done.outcome else {
            unreachable!()
        };
        assert!(
            e.close_connection(),
            "an unread oversized body is not drained"
        );
        assert_eq!(
            e.detail(),
            Some("the request body must not exceed 1024 bytes")
        );
    }

    #[tokio::test]
    async fn within_the_limit_passes_and_records_the_streaming_limit() {
        let p = request_pipeline(vec![entry(KIND, json!({ "max": "1KiB" }))]);
        for headers in [
            &[("content-length", "1024")][..],
            &[("transfer-encoding", "chunked")],
        ] {
            let mut ex = exchange("POST", "/", headers);
            let done = run(&p, &mut ex, 200).await;
            assert!(matches!(done.outcome, RequestOutcome::Forward));
            assert_eq!(
                ex.request.extensions.get::<BodyLimit>(),
                Some(&BodyLimit(1024))
            );
        }
    }

    #[tokio::test]
    async fn buffered_bodies_are_measured_directly() {
        let p = request_pipeline(vec![entry(KIND, json!({ "max": 4 }))]);
        let mut ex = exchange("POST", "/", &[]);
        ex.body = RequestBody::Buffered(Bytes::from_static(b"12345"));
        assert_eq!(
            run(&p, &mut ex, 200).await.code(),
            Some("request.body_too_large")
        );
        let mut ex = exchange("POST", "/", &[]);
        ex.body = RequestBody::Buffered(Bytes::from_static(b"1234"));
        assert!(run(&p, &mut ex, 200).await.code().is_none());
        // A content-coded body is measured as received, which is what goes upstream.
        let mut ex = exchange("POST", "/", &[]);
        ex.body = RequestBody::Coded {
            wire: Bytes::from_static(b"1234"),
            content: Ok(Bytes::from_static(b"123456789")),
        };
        assert!(run(&p, &mut ex, 200).await.code().is_none());
        ex.body = RequestBody::Coded {
            wire: Bytes::from_static(b"12345"),
            content: Ok(Bytes::from_static(b"1")),
        };
        assert_eq!(
            run(&p, &mut ex, 200).await.code(),
            Some("request.body_too_large")
        );
    }

    #[tokio::test]
    async fn the_smallest_of_several_limits_wins() {
        let p = request_pipeline(vec![
            entry(KIND, json!({ "max": 100 })),
            entry(KIND, json!({ "max": 1000 })),
        ]);
        let mut ex = exchange("POST", "/", &[]);
        run(&p, &mut ex, 200).await;
        assert_eq!(
            ex.request.extensions.get::<BodyLimit>(),
            Some(&BodyLimit(100))
        );
    }

    #[tokio::test]
    async fn monitor_mode_forwards_and_records_an_event() {
        let p = request_pipeline(vec![entry(KIND, json!({ "max": 10, "mode": "monitor" }))]);
        let mut ex = exchange("POST", "/", &[("content-length", "11")]);
        let done = run(&p, &mut ex, 200).await;
        assert!(matches!(done.outcome, RequestOutcome::Forward));
        assert_eq!(ex.ctx.events.len(), 1);
        assert_eq!(
            (ex.ctx.events[0].code, ex.ctx.events[0].mode),
            ("request.body_too_large", Mode::Monitor)
        );
    }
}
