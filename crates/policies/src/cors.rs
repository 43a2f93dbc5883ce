//! `cors`: lets browser code from chosen origins call the API, and nobody else's.
//!
//! Request phase: a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is
//! answered by the gateway and never proxied: 204 with the `Access-Control-Allow-*` headers when
//! origin, method and requested headers are allowed, otherwise 403 `cors.rejected`. Response
//! phase, for actual requests: an allowed origin gets `Access-Control-Allow-Origin` (and
//! credentials / exposed headers as configured); a disallowed one gets no CORS header, so the
//! browser hides the response, while the request itself is still proxied as usual.
//!
//! The gateway owns CORS for routes where this policy runs: `Access-Control-*` headers sent by
//! the upstream are dropped, so a permissive upstream cannot widen the configured policy. Place
//! the policy first in the request list: its response phase then also decorates errors raised by
//! later policies (a 401 from `verify-api-key` stays readable by the allowed front end).
//! `Vary: Origin` is added whenever the answer depends on the origin, so shared caches never
//! serve one origin's response to another.

mod origin;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use portcullis_core::{DurationSpec, GatewayError};
use portcullis_policy::{Decision, Exchange, Phase, Policy, Reply};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::registry::{CompileCtx, CompileError, PolicyConfig};
use origin::Origins;

const KIND: &str = "cors";
const PREFLIGHT_VARY: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

/// Config of `cors`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct CorsConfig {
    /// Origins allowed to call the API: exact origins (`https://app.example.com`), subdomain
    /// patterns (`https://*.example.com`, which does not match the apex) or `*` for any.
    pub allow_origins: Vec<String>,
    /// Methods allowed in preflights (`*` for any).
    #[serde(default = "default_methods")]
    pub allow_methods: Vec<String>,
    /// Request headers allowed in preflights, case-insensitive (`*` for any).
    #[serde(default = "default_headers")]
    pub allow_headers: Vec<String>,
    /// Response headers browser code may read beyond the CORS-safelisted ones.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// Whether browsers may send cookies and HTTP auth (and read the response). Cannot be
    /// combined with the `*` origin.
    #[serde(default)]
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight answer.
    #[serde(default = "default_max_age")]
    pub max_age: DurationSpec,
}

/// The compiled policy.
#[derive(Debug)]
pub struct Cors {
    origins: Origins,
    methods: Option<Vec<Method>>,
    methods_value: Option<HeaderValue>,
    headers: Option<Vec<HeaderName>>,
    headers_value: Option<HeaderValue>,
    expose_value: Option<HeaderValue>,
    credentials: bool,
    max_age: HeaderValue,
}

/// What the response phase should add, decided in the request phase.
#[derive(Debug, Clone)]
enum CorsScratch {
    /// Preflight answered by this policy: its headers are already set.
    Preflight,
    /// Actual request; the `Access-Control-Allow-Origin` value if the origin is allowed.
    Actual(Option<HeaderValue>),
}

fn default_methods() -> Vec<String> {
    ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        .map(String::from)
        .to_vec()
}
fn default_headers() -> Vec<String> {
    ["content-type", "authorization", "x-api-key"]
        .map(String::from)
        .to_vec()
}
fn default_max_age() -> DurationSpec {
    DurationSpec(std::time::Duration::from_secs(600))
}

// === impl CorsConfig ===

impl PolicyConfig for CorsConfig {
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        let mut errors = Vec::new();
        if ctx.phase == Phase::Response {
            errors.push(CompileError::at(
                "",
                "cors answers preflight requests; place it in a request list",
            ));
        }
        let mut origins = Origins::default();
        for (i, entry) in self.allow_origins.iter().enumerate() {
            if let Err(message) = origins.add(entry) {
                errors.push(CompileError::at(format!("allow_origins[{i}]"), message));
            }
        }
        if self.allow_origins.is_empty() {
            errors.push(CompileError::at(
                "allow_origins",
                "list at least one origin",
            ));
        }
        if origins.any && self.allow_credentials {
            errors.push(CompileError::at(
                "allow_credentials",
                "cannot be true when allow_origins contains '*': list the trusted origins instead",
            ));
        }
        let methods = list("allow_methods", &self.allow_methods, &mut errors, |m| {
            Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok()
        });
        let headers = list(
            "allow_headers",
            &self.allow_headers,
            &mut errors,
            parse_header,
        );
        let expose = list(
            "expose_headers",
            &self.expose_headers,
            &mut errors,
            parse_header,
        );
        if expose.is_none() && self.allow_credentials {
            errors.push(CompileError::at(
                "expose_headers",
                "'*' is taken literally by browsers when allow_credentials is true: list the headers",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let methods_value = methods.as_ref().map(|m| join(m.iter().map(Method::as_str)));
        let headers_value = headers
            .as_ref()
            .map(|h| join(h.iter().map(HeaderName::as_str)));
        let expose_value = match &expose {
            None => Some(HeaderValue::from_static("*")),
            Some(list) if list.is_empty() => None,
            Some(list) => Some(join(list.iter().map(HeaderName::as_str))),
        };
        Ok(Arc::new(Cors {
            origins,
            methods,
            methods_value,
            headers,
            headers_value,
            expose_value,
            credentials: self.allow_credentials,
            max_age: HeaderValue::from(self.max_age.0.as_secs()),
        }))
    }
}

/// Parses a list where `*` means "any" (`None`), reporting bad items at `field[i]`.
fn list<T>(
    field: &str,
    items: &[String],
    errors: &mut Vec<CompileError>,
    parse: impl Fn(&str) -> Option<T>,
) -> Option<Vec<T>> {
    if items.iter().any(|i| i.trim() == "*") {
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match parse(item.trim()) {
            Some(v) => out.push(v),
            None => errors.push(CompileError::at(
                format!("{field}[{i}]"),
                format!("invalid name '{item}'"),
            )),
        }
    }
    Some(out)
}

fn parse_header(name: &str) -> Option<HeaderName> {
    HeaderName::from_bytes(name.as_bytes()).ok()
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> HeaderValue {
    let joined = items.collect::<Vec<_>>().join(", ");
    HeaderValue::try_from(joined).expect("method and header names are valid header value bytes")
}

// === impl Cors ===

impl Cors {
    /// Answers an allowed preflight, or says why it is refused.
    fn preflight(&self, req: &HeaderMap, origin: &HeaderValue) -> Result<Decision, GatewayError> {
        self.check_preflight(req, origin)?;
        Ok(Decision::Respond(self.preflight_reply(req, origin)))
    }

    /// Origin, method and every requested header must be allowed.
    fn check_preflight(&self, req: &HeaderMap, origin: &HeaderValue) -> Result<(), GatewayError> {
        let rejected = |why: &'static str| GatewayError::cors_rejected().with_detail(why);
        if !self.origins.allows(origin.as_bytes()) {
            return Err(rejected("origin not allowed"));
        }
        let method = req
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .map(HeaderValue::as_bytes);
        let method_ok = match (&self.methods, method) {
            (None, _) => true,
            (Some(list), Some(m)) => list.iter().any(|allowed| allowed.as_str().as_bytes() == m),
            (Some(_), None) => false,
        };
        if !method_ok {
            return Err(rejected("method not allowed"));
        }
        let requested = req.get_all(header::ACCESS_CONTROL_REQUEST_HEADERS);
        if let Some(allowed) = &self.headers {
            let all_allowed = requested
                .iter()
                .flat_map(|v| v.as_bytes().split(|&b| b == b','))
                .map(<[u8]>::trim_ascii)
                .filter(|h| !h.is_empty())
                .all(|h| {
                    allowed
                        .iter()
                        .any(|a| a.as_str().as_bytes().eq_ignore_ascii_case(h))
                });
            if !all_allowed {
                return Err(rejected("request headers not allowed"));
            }
        }
        Ok(())
    }

    /// The 204 answer to an allowed preflight.
    fn preflight_reply(&self, req: &HeaderMap, origin: &HeaderValue) -> Reply {
        let mut reply = http::Response::new(Bytes::new());
        *reply.status_mut() = StatusCode::NO_CONTENT;
        let h = reply.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            self.allow_origin_value(origin),
        );
        if self.credentials {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        // With credentials, browsers read `*` literally, so "any" is answered by reflection.
        let reflect = |name| req.get(name).cloned().filter(|_| self.credentials);
        let wildcard = || Some(HeaderValue::from_static("*"));
        let methods = self
            .methods_value
            .clone()
            .or_else(|| reflect(header::ACCESS_CONTROL_REQUEST_METHOD))
            .or_else(wildcard);
        let headers = self
            .headers_value
            .clone()
            .or_else(|| reflect(header::ACCESS_CONTROL_REQUEST_HEADERS))
            .or_else(wildcard);
        if let Some(methods) = methods {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
        }
        if let Some(headers) = headers.filter(|v| !v.is_empty()) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, headers);
        }
        h.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        h.insert(header::VARY, HeaderValue::from_static(PREFLIGHT_VARY));
        reply
    }

    fn allow_origin_value(&self, origin: &HeaderValue) -> HeaderValue {
        if self.origins.any && !self.credentials {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        }
    }

    /// Whether responses differ by `Origin` (anything but a plain `*`).
    fn varies_by_origin(&self) -> bool {
        !self.origins.any || self.credentials
    }
}

#[async_trait]
impl Policy for Cors {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        let req = &ex.request.headers;
        let origin = req.get(header::ORIGIN).cloned();
        let is_preflight = ex.request.method == Method::OPTIONS
            && req.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if let (true, Some(origin)) = (is_preflight, &origin) {
            ex.request.extensions.insert(CorsScratch::Preflight);
            return self.preflight(&ex.request.headers, origin);
        }
        let allowed = origin
            .filter(|o| self.origins.allows(o.as_bytes()))
            .map(|o| self.allow_origin_value(&o));
        ex.request.extensions.insert(CorsScratch::Actual(allowed));
        Ok(Decision::Continue)
    }

    async fn on_response(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        let Some(CorsScratch::Actual(allowed)) = ex.request.extensions.get::<CorsScratch>() else {
            return Ok(Decision::Continue);
        };
        let Some(response) = ex.response.as_mut() else {
            return Ok(Decision::Continue);
        };
        let h = &mut response.headers;
        for name in [
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::ACCESS_CONTROL_MAX_AGE,
        ] {
            h.remove(name);
        }
        if let Some(value) = allowed {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value.clone());
            if self.credentials {
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            if let Some(expose) = &self.expose_value {
                h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
            }
        }
        if self.varies_by_origin() {
            add_vary_origin(h);
        }
        Ok(Decision::Continue)
    }

    fn has_response_phase(&self) -> bool {
        true
    }
}

/// Adds `Origin` to `Vary` unless already covered (`Vary: *` or an `Origin` token).
fn add_vary_origin(headers: &mut HeaderMap) {
    let covered = headers.get_all(header::VARY).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .map(<[u8]>::trim_ascii)
            .any(|t| t == b"*" || t.eq_ignore_ascii_case(b"origin"))
    });
    if !covered {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests;
