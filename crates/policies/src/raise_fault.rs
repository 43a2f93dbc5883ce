//! `raise-fault`: answers immediately with a fixed error or a fixed response, e.g. to retire an
//! endpoint (410), to block a path while an incident is handled, or to stub a route.
//!
//! Without `body` it fails with a problem+json error carrying the configured status, stable
//! `code` (default `fault.raised`), title and detail, through the gateway's one error map. With
//! `body` it answers with exactly that body and content type. It runs in whichever list it is
//! placed in: in a request list the upstream is never called; in a response list it replaces the
//! upstream's response.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use bytes::Bytes;
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use parking_lot::Mutex;
use portcullis_core::{ErrorSource, GatewayError};
use portcullis_policy::{Decision, Exchange, Phase, Policy, Reply};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::registry::{CompileCtx, CompileError, PolicyConfig};
use crate::set_headers::{header_map, header_value};

const KIND: &str = "raise-fault";
const DEFAULT_CODE: &str = "fault.raised";

/// Config of `raise-fault`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RaiseFaultConfig {
    /// HTTP status: 400-599, or 200-599 when `body` is given.
    #[schemars(range(min = 200, max = 599))]
    pub status: u16,
    /// Stable error code for the problem body, logs and metrics: lowercase dotted words such as
    /// `orders.retired` (default `fault.raised`). Ignored when `body` is given.
    #[serde(default)]
    pub code: Option<String>,
    /// Short human title of the problem (default: the status reason, e.g. `Gone`).
    #[serde(default)]
    pub title: Option<String>,
    /// Client-facing explanation in the problem body.
    #[serde(default)]
    pub detail: Option<String>,
    /// Extra response headers (e.g. `Retry-After`, `Link`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Exact response body; when given, the answer is this body instead of a problem+json error.
    #[serde(default)]
    pub body: Option<String>,
    /// Content type of `body` (default `text/plain; charset=utf-8`).
    #[serde(default)]
    pub content_type: Option<String>,
}

/// The compiled policy.
#[derive(Debug)]
pub struct RaiseFault {
    phase: Phase,
    answer: Answer,
}

#[derive(Debug)]
enum Answer {
    /// A problem+json error (cloned per request; its strings are `'static`).
    Problem(GatewayError),
    /// A fixed response.
    Body {
        status: StatusCode,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
    },
}

/// Configured strings promoted to `'static`, each distinct string leaked once.
static INTERNED: LazyLock<Mutex<HashSet<&'static str>>> = LazyLock::new(Default::default);

// === impl RaiseFaultConfig ===

impl PolicyConfig for RaiseFaultConfig {
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        let mut errors = Vec::new();
        let status = self.check_status(&mut errors);
        let mut headers = header_map("headers", &self.headers, &mut errors);
        if let Some(raw) = self
            .headers
            .keys()
            .find(|k| k.eq_ignore_ascii_case("content-type"))
        {
            errors.push(CompileError::at(
                format!("headers.{raw}"),
                "use content_type instead",
            ));
        }
        if self.code.as_deref().is_some_and(|code| !valid_code(code)) {
            let message =
                "must be lowercase dotted words, e.g. orders.retired (at most 64 characters)";
            errors.push(CompileError::at("code", message));
        }
        let content_type = match (&self.body, &self.content_type) {
            (None, Some(_)) => {
                errors.push(CompileError::at(
                    "content_type",
                    "only used together with body",
                ));
                None
            }
            (_, Some(ct)) => header_value("content_type", ct, &mut errors),
            (_, None) => Some(HeaderValue::from_static("text/plain; charset=utf-8")),
        };
        let (Some(status), Some(content_type), true) = (status, content_type, errors.is_empty())
        else {
            return Err(errors);
        };
        let answer = match self.body {
            Some(body) => {
                headers.insert(0, (CONTENT_TYPE, content_type));
                Answer::Body {
                    status,
                    headers,
                    body: Bytes::from(body),
                }
            }
            None => {
                let code = self.code.map_or(DEFAULT_CODE, intern);
                let title = self
                    .title
                    .map_or_else(|| status.canonical_reason().unwrap_or("Fault"), intern);
                let mut error = GatewayError::new(status, code, title, ErrorSource::Client);
                if let Some(detail) = self.detail {
                    error = error.with_detail(intern(detail));
                }
                Answer::Problem(
                    headers
                        .into_iter()
                        .fold(error, |e, (n, v)| e.with_header(n, v)),
                )
            }
        };
        Ok(Arc::new(RaiseFault {
            phase: ctx.phase,
            answer,
        }))
    }
}

impl RaiseFaultConfig {
    fn check_status(&self, errors: &mut Vec<CompileError>) -> Option<StatusCode> {
        let (min, message) = match self.body {
            Some(_) => (200, "must be between 200 and 599"),
            None => (
                400,
                "must be between 400 and 599 (200-599 when body is given)",
            ),
        };
        if !(min..=599).contains(&self.status) {
            errors.push(CompileError::at("status", message));
            return None;
        }
        let status = StatusCode::from_u16(self.status).ok()?;
        let bodiless = matches!(self.status, 204 | 205 | 304);
        if bodiless && self.body.as_ref().is_some_and(|b| !b.is_empty()) {
            errors.push(CompileError::at(
                "body",
                format!("status {} cannot carry a body", self.status),
            ));
            return None;
        }
        Some(status)
    }
}

/// Stable codes look like the built-in ones: `segment(.segment)+`, lowercase ASCII.
fn valid_code(code: &str) -> bool {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    code.len() <= 64 && code.contains('.') && code.split('.').all(segment_ok)
}

/// `GatewayError` keeps its code and title as `&'static str` so the common, built-in errors never
/// allocate. Configured strings are therefore leaked, but only once per distinct string: a
/// reloaded config reuses the same leak, so memory is bounded by the distinct texts ever
/// configured. (A `Cow<'static, str>` in `GatewayError` would remove the leak; proposed.)
fn intern(s: String) -> &'static str {
    let mut set = INTERNED.lock();
    if let Some(existing) = set.get(s.as_str()) {
        return existing;
    }
    let leaked: &'static str = Box::leak(s.into_boxed_str());
    set.insert(leaked);
    leaked
}

// === impl RaiseFault ===

impl RaiseFault {
    fn answer(&self) -> Result<Decision, GatewayError> {
        match &self.answer {
            Answer::Problem(error) => Err(error.clone()),
            Answer::Body {
                status,
                headers,
                body,
            } => {
                let mut reply = Reply::new(body.clone());
                *reply.status_mut() = *status;
                for (name, value) in headers {
                    reply.headers_mut().append(name.clone(), value.clone());
                }
                Ok(Decision::Respond(reply))
            }
        }
    }
}

#[async_trait]
impl Policy for RaiseFault {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn on_request(&self, _ex: &mut Exchange) -> Result<Decision, GatewayError> {
        match self.phase {
            Phase::Request => self.answer(),
            Phase::Response => Ok(Decision::Continue),
        }
    }

    async fn on_response(&self, _ex: &mut Exchange) -> Result<Decision, GatewayError> {
        match self.phase {
            Phase::Response => self.answer(),
            Phase::Request => Ok(Decision::Continue),
        }
    }

    fn has_response_phase(&self) -> bool {
        self.phase == Phase::Response
    }
}

#[cfg(test)]
mod tests;
