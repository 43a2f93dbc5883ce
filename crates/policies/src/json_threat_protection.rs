//! `json-threat-protection`: refuses JSON request bodies built to exhaust the backend's parser
//! (deep nesting, huge objects or arrays, megabyte names or strings, thousand-digit numbers)
//! and bodies that are not strict RFC 8259 JSON, before they reach the upstream.
//!
//! Improves on Apigee's JSONThreatProtection in two ways. Violations are client errors: 400 with
//! the engine's stable code (`json.depth_exceeded`, `json.invalid`, ...), the JSONPath in
//! `detail` and in a `location` member, instead of a generic 500. And the declared content type
//! is not a way around the check: `+json` types are checked, a body without `Content-Type` is
//! checked unless it looks like XML, and `check_all_bodies` checks every body whatever it
//! claims to be. Request phase; the body is buffered (within the API's body limit) first.
//!
//! The check parses the body once into a [`JsonDoc`] tape and leaves it in the request's
//! extensions ([`ParsedJsonBody`]): `injection-protection` and `openapi-validation` later in
//! the same request read that tape instead of lexing the body again.

use std::sync::Arc;

use bytes::Bytes;

use async_trait::async_trait;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use portcullis_core::{ByteSize, ErrorSource, GatewayError};
use portcullis_policy::{Decision, Exchange, Phase, Policy};
use portcullis_threat::Violation;
use portcullis_threat::json::{JsonDoc, JsonLimits, JsonView};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::body_charset;
use crate::registry::{CompileCtx, CompileError, PolicyConfig};

const KIND: &str = "json-threat-protection";
const TITLE: &str = "JSON body rejected";

/// Config of `json-threat-protection`. Every limit can be set to `null` to disable it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct JsonThreatProtectionConfig {
    /// Deepest nesting of objects and arrays (`{}` alone is depth 1). Default 32.
    #[serde(default = "d_depth")]
    pub max_depth: Option<u32>,
    /// Most members in any one object (duplicate keys count). Default 1000.
    #[serde(default = "d_entries")]
    pub max_object_entries: Option<u64>,
    /// Most elements in any one array. Default 10000.
    #[serde(default = "d_elements")]
    pub max_array_elements: Option<u64>,
    /// Longest property name, in characters after unescaping. Default 256.
    #[serde(default = "d_name")]
    pub max_name_length: Option<u64>,
    /// Longest string value, in characters after unescaping. Default 65536.
    #[serde(default = "d_string")]
    pub max_string_length: Option<u64>,
    /// Longest number, in characters as written. Default 64.
    #[serde(default = "d_number")]
    pub max_number_length: Option<u64>,
    /// Largest body checked, e.g. `1MiB` (the API's `max_body` applies first). Default `10MiB`.
    #[serde(default = "d_body")]
    pub max_body_bytes: Option<ByteSize>,
    /// Media types checked as JSON: an exact type (`application/json`) or a suffix starting
    /// with `+` (`+json` matches `application/vnd.api+json`). Parameters such as `charset` are
    /// ignored. A body without `Content-Type` is checked too unless it starts with `<`.
    /// `text/json` is in the defaults because ASP.NET Core parses it as JSON. Default
    /// `["application/json", "text/json", "+json"]`.
    #[serde(default = "d_types")]
    pub content_types: Vec<String>,
    /// Check every non-empty body as JSON whatever its `Content-Type` says, for APIs that only
    /// take JSON (a JSON body sent as `text/plain` is then still checked). Default false.
    #[serde(default)]
    pub check_all_bodies: bool,
}

fn d_depth() -> Option<u32> {
    JsonLimits::default().max_depth
}
fn d_entries() -> Option<u64> {
    JsonLimits::default().max_object_entries
}
fn d_elements() -> Option<u64> {
    JsonLimits::default().max_array_elements
}
fn d_name() -> Option<u64> {
    JsonLimits::default().max_name_length
}
fn d_string() -> Option<u64> {
    JsonLimits::default().max_string_length
}
fn d_number() -> Option<u64> {
    JsonLimits::default().max_number_length
}
fn d_body() -> Option<ByteSize> {
    JsonLimits::default().max_body_bytes.map(ByteSize)
}
fn d_types() -> Vec<String> {
    vec![
        "application/json".into(),
        "text/json".into(),
        "+json".into(),
    ]
}

/// The compiled policy.
#[derive(Debug)]
pub struct JsonThreatProtection {
    limits: JsonLimits,
    types: MediaTypes,
    check_all: bool,
}

impl PolicyConfig for JsonThreatProtectionConfig {
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        request_phase_only(ctx, KIND)?;
        let types = MediaTypes::compile(&self.content_types)?;
        Ok(Arc::new(JsonThreatProtection {
            limits: JsonLimits {
                max_depth: self.max_depth,
                max_object_entries: self.max_object_entries,
                max_array_elements: self.max_array_elements,
                max_name_length: self.max_name_length,
                max_string_length: self.max_string_length,
                max_number_length: self.max_number_length,
                max_body_bytes: self.max_body_bytes.map(|b| b.0),
            },
            types,
            check_all: self.check_all_bodies,
        }))
    }
}

#[async_trait]
impl Policy for JsonThreatProtection {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn needs_request_body(&self) -> bool {
        true
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        let Some(body) = ex.body.content()?.filter(|b| !b.is_empty()) else {
            return Ok(Decision::Continue);
        };
        let content_type = ex.request.headers.get(CONTENT_TYPE);
        if !self.check_all && !self.types.selects(content_type, body, sniff_json) {
            return Ok(Decision::Continue);
        }
        // body-parser (Express) decodes any `utf-*` charset, UTF-7 included, in which `+ACI-`
        // is a quote: valid UTF-8 JSON here, another document there.
        body_charset::check(content_type.and_then(|v| v.to_str().ok()), false)?;
        match JsonDoc::parse(body, &self.limits) {
            Ok(doc) => {
                let parsed = ParsedJsonBody {
                    body: body.clone(),
                    doc: Arc::new(doc),
                };
                ex.request.extensions.insert(parsed);
                Ok(Decision::Continue)
            }
            Err(v) => Err(violation_error(&v, TITLE)),
        }
    }
}

/// A request body `json-threat-protection` accepted, parsed: kept in the request's
/// extensions so later policies of the same request read the tape instead of the bytes.
#[derive(Debug, Clone)]
pub struct ParsedJsonBody {
    /// The bytes that were parsed (a reference-counted handle on the same buffer).
    body: Bytes,
    doc: Arc<JsonDoc>,
}

impl ParsedJsonBody {
    /// The parsed document of the exchange's current body, if this request has one: a policy
    /// that replaced the body in between makes the tape stale, so it is only handed out for
    /// the very same bytes.
    pub(crate) fn of<'a>(ex: &'a Exchange) -> Option<JsonView<'a>> {
        let parsed = ex.request.extensions.get::<ParsedJsonBody>()?;
        let body = ex.body.content().ok()??;
        if !std::ptr::eq(parsed.body.as_ref(), body.as_ref()) {
            return None;
        }
        // Each reader checks the body as UTF-8 again (SIMD, ≈ 3 k instructions for 10 KB): the
        // two readers together cost less than keeping the checked text, which takes the
        // standard library's check (≈ 10 k) to build.
        parsed.doc.view(&parsed.body)
    }
}

// === helpers shared with xml-threat-protection ===

/// Refuses a placement in a response list: these policies check request bodies.
pub(crate) fn request_phase_only(
    ctx: &CompileCtx<'_>,
    kind: &str,
) -> Result<(), Vec<CompileError>> {
    if ctx.phase == Phase::Response {
        return Err(vec![CompileError::at(
            "",
            format!("{kind} checks request bodies; place it in a request list"),
        )]);
    }
    Ok(())
}

/// The 400 answer for an engine violation: stable code, the engine's explanation and the
/// location (a JSONPath or an XPath) in `detail`, plus `location` and `limit` members.
pub(crate) fn violation_error(v: &Violation, title: &'static str) -> GatewayError {
    let mut e = GatewayError::new(StatusCode::BAD_REQUEST, v.code, title, ErrorSource::Client)
        .with_detail(format!("{} (at {})", v.detail, v.path))
        .with_extra("location", json!(v.path));
    if let Some(limit) = v.limit {
        e = e.with_extra("limit", json!(limit));
    }
    e
}

/// Configured media types: exact essences and `+suffix` structured-syntax suffixes, lower case.
#[derive(Debug)]
pub(crate) struct MediaTypes {
    exact: Vec<String>,
    suffixes: Vec<String>,
}

impl MediaTypes {
    pub(crate) fn compile(list: &[String]) -> Result<Self, Vec<CompileError>> {
        let mut types = MediaTypes {
            exact: Vec::new(),
            suffixes: Vec::new(),
        };
        let mut errors = Vec::new();
        for (i, t) in list.iter().enumerate() {
            let t = t.trim().to_ascii_lowercase();
            let valid_token = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
            };
            if let Some(suffix) = t.strip_prefix('+')
                && valid_token(suffix)
            {
                types.suffixes.push(format!("+{suffix}"));
            } else if let Some((top, sub)) = t.split_once('/')
                && valid_token(top)
                && valid_token(sub)
            {
                types.exact.push(t);
            } else {
                errors.push(CompileError::at(
                    format!("content_types[{i}]"),
                    format!(
                        "'{t}' is neither a media type (`type/subtype`) nor a suffix (`+json`)"
                    ),
                ));
            }
        }
        if errors.is_empty() {
            Ok(types)
        } else {
            Err(errors)
        }
    }

    /// Whether a body with this `Content-Type` is to be checked. Without a (readable, non-empty)
    /// `Content-Type`, `sniff` decides from the body: omitting the header must not skip the
    /// check.
    pub(crate) fn selects(
        &self,
        content_type: Option<&http::HeaderValue>,
        body: &[u8],
        sniff: fn(&[u8]) -> bool,
    ) -> bool {
        let essence = content_type
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| !m.is_empty());
        match essence {
            Some(m) => {
                self.exact.contains(&m) || self.suffixes.iter().any(|s| m.ends_with(s.as_str()))
            }
            None => sniff(body),
        }
    }
}

/// The first byte of `body` after blanks and a UTF-8 byte-order mark.
pub(crate) fn first_byte(body: &[u8]) -> Option<u8> {
    body.strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(body)
        .iter()
        .copied()
        .find(|b| !b.is_ascii_whitespace())
}

/// An unlabelled body is JSON unless it looks like XML.
fn sniff_json(body: &[u8]) -> bool {
    first_byte(body) != Some(b'<')
}

#[cfg(test)]
mod tests;
