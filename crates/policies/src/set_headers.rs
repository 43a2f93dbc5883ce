//! `set-headers`: adds, replaces and removes headers, on the request (in a request list) or on the
//! response (in a response list). Typical uses: strip internal headers before they leave
//! (`Server`, `X-Powered-By`), add security headers, pass a static token to the upstream.
//!
//! Steps run in the order remove, set, add. Headers that frame the message or the connection
//! (`connection`, `transfer-encoding`, `content-length`, `host`, ...) are refused at compile time:
//! changing them from config invites request smuggling or broken framing, and the gateway
//! manages them itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, HeaderValue};
use portcullis_core::GatewayError;
use portcullis_policy::{Decision, Exchange, Phase, Policy};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::registry::{CompileCtx, CompileError, PolicyConfig};

const KIND: &str = "set-headers";

/// Headers owned by the gateway: hop-by-hop headers and those that frame or route the message.
const MANAGED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "host",
    "content-length",
];

/// Config of `set-headers`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SetHeadersConfig {
    /// Headers to append, keeping any existing values (`{"X-Via-Gateway": "portcullis"}`).
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    /// Headers to replace: existing values are dropped first.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Headers to remove (case-insensitive names).
    #[serde(default)]
    pub remove: Vec<String>,
}

/// The compiled policy.
#[derive(Debug)]
pub struct SetHeaders {
    phase: Phase,
    remove: Vec<HeaderName>,
    set: Vec<(HeaderName, HeaderValue)>,
    add: Vec<(HeaderName, HeaderValue)>,
}

// === impl SetHeadersConfig ===

impl PolicyConfig for SetHeadersConfig {
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        let mut errors = Vec::new();
        if self.add.is_empty() && self.set.is_empty() && self.remove.is_empty() {
            errors.push(CompileError::at(
                "",
                "nothing to do: give add, set or remove",
            ));
        }
        let remove = self
            .remove
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                header_name(&format!("remove[{i}]"), name, "removed", &mut errors)
            })
            .collect();
        let set = header_map("set", &self.set, &mut errors);
        let add = header_map("add", &self.add, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(SetHeaders {
            phase: ctx.phase,
            remove,
            set,
            add,
        }))
    }
}

/// Validates `field`'s name → value map; duplicate names differing only in case are refused.
pub(crate) fn header_map(
    field: &str,
    map: &BTreeMap<String, String>,
    errors: &mut Vec<CompileError>,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out: Vec<(HeaderName, HeaderValue)> = Vec::with_capacity(map.len());
    for (raw, value) in map {
        let path = format!("{field}.{raw}");
        let name = header_name(&path, raw, "set", errors);
        let value = header_value(&path, value, errors);
        if let (Some(name), Some(value)) = (name, value) {
            if out.iter().any(|(n, _)| *n == name) {
                let message = format!("duplicate header '{name}' (names are case-insensitive)");
                errors.push(CompileError::at(path, message));
            } else {
                out.push((name, value));
            }
        }
    }
    out
}

/// Parses a header name that config may touch (`verb`: "set" or "removed", for the message).
pub(crate) fn header_name(
    path: &str,
    raw: &str,
    verb: &str,
    errors: &mut Vec<CompileError>,
) -> Option<HeaderName> {
    let Ok(name) = HeaderName::from_bytes(raw.as_bytes()) else {
        errors.push(CompileError::at(
            path,
            format!("invalid header name '{raw}'"),
        ));
        return None;
    };
    if MANAGED.contains(&name.as_str()) {
        let message = format!("'{name}' is managed by the gateway and cannot be {verb}");
        errors.push(CompileError::at(path, message));
        return None;
    }
    Some(name)
}

/// Parses a header value: visible ASCII, spaces and tabs only.
pub(crate) fn header_value(
    path: &str,
    raw: &str,
    errors: &mut Vec<CompileError>,
) -> Option<HeaderValue> {
    HeaderValue::from_str(raw)
        .map_err(|_| {
            let message = "invalid header value: only visible ASCII, spaces and tabs are allowed";
            errors.push(CompileError::at(path, message));
        })
        .ok()
}

// === impl SetHeaders ===

impl SetHeaders {
    fn apply(&self, headers: &mut HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
    }
}

#[async_trait]
impl Policy for SetHeaders {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        if self.phase == Phase::Request {
            self.apply(&mut ex.request.headers);
        }
        Ok(Decision::Continue)
    }

    async fn on_response(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        if let (Phase::Response, Some(response)) = (self.phase, ex.response.as_mut()) {
            self.apply(&mut response.headers);
        }
        Ok(Decision::Continue)
    }

    fn has_response_phase(&self) -> bool {
        self.phase == Phase::Response
    }
}

#[cfg(test)]
mod tests;
