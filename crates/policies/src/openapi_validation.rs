//! `openapi-validation`: a positive security model. Only requests the API's OpenAPI 3.0/3.1
//! document describes get through: undeclared paths and methods (forgotten debug endpoints,
//! verb tampering), missing or mistyped parameters, repeated parameters (HTTP parameter
//! pollution), undeclared content types (the usual way around body inspection) and bodies that
//! do not match their schema (mass assignment, type confusion) are refused before the upstream.
//!
//! The document is read, checked and compiled once, when the configuration is compiled: a
//! broken document fails the deploy (the error names `spec` and the place in the document), and
//! requests are then validated in microseconds.
//!
//! Paths: the proxy hands policies the normalised full request path. The document's paths are
//! relative to the API, so `base_path` (normally the API's own `base_path`, plus any version
//! prefix the document leaves out) is stripped first; a request outside it is "path not found".
//!
//! Answers: an undeclared path is 404 `openapi.path_not_found` (as the backend would answer for
//! a route it does not have, without hinting that something else is there); a path without the
//! request method is 405 `openapi.method_not_allowed` with an `Allow` header; anything else is
//! 400 with the first violation's code. Every violation is listed in a `violations` member
//! (`{code, location, message}`). With `validate_responses`, the response status is checked
//! against the matched operation's declared responses and departures are recorded as events,
//! never blocking (the response body streams past policies, so its content type and schema
//! cannot be checked yet).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use portcullis_core::{ErrorSource, GatewayError};
use portcullis_policy::{Decision, Exchange, Mode, Policy, PolicyEvent};
use portcullis_threat::openapi::{
    MatchedOperation, OpenApiOptions, OpenApiValidator, RequestView, Violation, codes,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::body_charset;
use crate::json_threat_protection::{ParsedJsonBody, request_phase_only};
use crate::registry::{CompileCtx, CompileError, PolicyConfig};

const KIND: &str = "openapi-validation";
const TITLE: &str = "Request does not match the API contract";

/// Config of `openapi-validation`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct OpenApiValidationConfig {
    /// The OpenAPI 3.0.x or 3.1.x document (JSON or YAML), relative to the directory of the
    /// configuration file. Only local `$ref`s are followed; nothing is fetched.
    pub spec: PathBuf,
    /// Prefix removed from the request path before it is matched against the document's
    /// paths: normally the API's `base_path` (e.g. `/orders/v1`). Default: none, the document's
    /// paths are matched against the full request path.
    #[serde(default)]
    pub base_path: Option<String>,
    /// Refuse query parameters the operation does not declare. Default false (cache busters
    /// and tracking parameters are common).
    #[serde(default)]
    pub reject_unknown_query_params: bool,
    /// Refuse a non-empty body sent to an operation that declares no `requestBody`. Default
    /// true.
    #[serde(default = "yes")]
    pub reject_undeclared_body: bool,
    /// Check `format` keywords (`date-time`, `email`, `uuid`, ...). Default true.
    #[serde(default = "yes")]
    pub validate_formats: bool,
    /// Accept schema `pattern`s that need a backtracking engine (look-around,
    /// backreferences), run under a step budget. Default false: such patterns are refused when
    /// the document is loaded, and every pattern runs in linear time (no ReDoS).
    #[serde(default)]
    pub backtracking_patterns: bool,
    /// Most violations reported for one request. Default 32.
    #[serde(default = "d_max")]
    pub max_violations: usize,
    /// Check each response's status against the matched operation's declared responses and
    /// record departures as `openapi.response_status_undeclared` events; never blocks.
    /// Default false.
    #[serde(default)]
    pub validate_responses: bool,
}

fn yes() -> bool {
    true
}
fn d_max() -> usize {
    OpenApiOptions::default().max_violations
}

/// The compiled policy.
#[derive(Debug)]
pub struct OpenApiValidation {
    validator: OpenApiValidator,
    validate_responses: bool,
}

impl PolicyConfig for OpenApiValidationConfig {
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        request_phase_only(ctx, KIND)?;
        let file = ctx.base_dir.join(&self.spec);
        let text = std::fs::read_to_string(&file).map_err(|e| {
            vec![CompileError::at(
                "spec",
                format!("cannot read {}: {e}", file.display()),
            )]
        })?;
        let opts = OpenApiOptions {
            base_path: self.base_path.clone(),
            reject_unknown_query_params: self.reject_unknown_query_params,
            reject_undeclared_body: self.reject_undeclared_body,
            validate_formats: self.validate_formats,
            backtracking_patterns: self.backtracking_patterns,
            max_violations: self.max_violations.max(1),
        };
        let validator = OpenApiValidator::load(&text, &opts).map_err(|e| {
            let field = match e {
                portcullis_threat::openapi::LoadError::BasePath(_) => "base_path",
                _ => "spec",
            };
            vec![CompileError::at(field, format!("{}: {e}", file.display()))]
        })?;
        Ok(Arc::new(OpenApiValidation {
            validator,
            validate_responses: self.validate_responses,
        }))
    }
}

fn listed(violations: &[Violation]) -> serde_json::Value {
    violations
        .iter()
        .map(|v| json!({ "code": v.code, "location": v.location, "message": v.message }))
        .collect()
}

impl OpenApiValidation {
    fn rejection(&self, path: &str, violations: &[Violation]) -> GatewayError {
        let first = &violations[0];
        let status = match first.code {
            codes::PATH_NOT_FOUND => StatusCode::NOT_FOUND,
            codes::METHOD_NOT_ALLOWED => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::BAD_REQUEST,
        };
        let detail = match violations.len() {
            1 => first.message.clone(),
            n => format!("{} (and {} more)", first.message, n - 1),
        };
        let mut e = GatewayError::new(status, first.code, TITLE, ErrorSource::Client)
            .with_detail(detail)
            .with_extra("violations", listed(violations));
        if status == StatusCode::METHOD_NOT_ALLOWED
            && let Some(allow) = self.validator.allowed_methods(path)
            && let Ok(value) = HeaderValue::from_str(allow)
        {
            e = e.with_header(ALLOW, value);
        }
        e
    }
}

#[async_trait]
impl Policy for OpenApiValidation {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn needs_request_body(&self) -> bool {
        true
    }

    fn has_response_phase(&self) -> bool {
        self.validate_responses
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        let body = ex.body.content()?.map(|b| &b[..]);
        if body.is_some_and(|b| !b.is_empty()) {
            let content_type = ex.request.headers.get(CONTENT_TYPE);
            body_charset::check(content_type.and_then(|v| v.to_str().ok()), false)?;
        }
        let req = RequestView {
            method: ex.request.method.as_str(),
            path: &ex.ctx.path,
            query: ex.request.uri.query(),
            headers: &ex.request.headers,
            content_type: None,
            body,
        };
        // A body `json-threat-protection` already parsed is validated on its tape.
        let outcome = match ParsedJsonBody::of(ex) {
            Some(doc) => self.validator.validate_request_with_doc(&req, doc),
            None => self.validator.validate_request(&req),
        };
        match outcome {
            Ok(op) => {
                if self.validate_responses {
                    ex.request.extensions.insert(op);
                }
                Ok(Decision::Continue)
            }
            Err(violations) if violations.is_empty() => Ok(Decision::Continue),
            Err(violations) => Err(self.rejection(&ex.ctx.path, &violations)),
        }
    }

    async fn on_response(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        let (Some(op), Some(resp)) = (
            ex.request.extensions.get::<MatchedOperation>(),
            ex.response.as_ref(),
        ) else {
            return Ok(Decision::Continue);
        };
        let content_type = resp.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        // The response body streams to the client untouched: without it the engine checks
        // the status only (content type and schema need the body).
        let violations =
            self.validator
                .validate_response(op, resp.status.as_u16(), content_type, None);
        ex.ctx
            .events
            .extend(violations.into_iter().map(|v| PolicyEvent {
                policy: KIND,
                code: v.code,
                mode: Mode::Monitor,
                detail: Some(format!("{}: {}", v.location, v.message)),
            }));
        Ok(Decision::Continue)
    }
}

#[cfg(test)]
mod tests;
