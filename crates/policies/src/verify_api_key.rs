//! `verify-api-key`: admits a request only with a valid API key, and attaches the calling app and
//! developer to the request context for later policies (rate limits by app) and logs.
//!
//! Protects against anonymous use of an API. The key comes from a header or a query parameter;
//! it is checked against the in-memory credential index (the hot path never queries the
//! database), which the store's change feed keeps current, so a revocation takes effect within
//! the feed's poll interval. Phase: request.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use http::{HeaderName, HeaderValue, header};
use portcullis_core::{GatewayError, Identity};
use portcullis_policy::{Decision, Exchange, Policy};
use portcullis_store::{KeyIndex, KeyLookup};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::registry::{CompileCtx, CompileError, PolicyConfig};

/// Config of `verify-api-key`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct VerifyApiKeyConfig {
    /// Request header carrying the key. Default `x-api-key` when `query` is not set either.
    #[serde(default)]
    pub header: Option<String>,
    /// Query parameter carrying the key (checked after the header).
    #[serde(default)]
    pub query: Option<String>,
    /// Remove the key from the request before it goes upstream, so backends never see (or log)
    /// it. Default true.
    #[serde(default = "yes")]
    pub hide_credentials: bool,
}

fn yes() -> bool {
    true
}

impl PolicyConfig for VerifyApiKeyConfig {
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        let header = match (&self.header, &self.query) {
            (None, None) => Some(HeaderName::from_static("x-api-key")),
            (Some(h), _) => Some(HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                vec![CompileError::at(
                    "header",
                    format!("invalid header name '{h}'"),
                )]
            })?),
            (None, Some(_)) => None,
        };
        if let Some(q) = &self.query
            && (q.is_empty() || q.contains(['&', '=', '#']))
        {
            return Err(vec![CompileError::at(
                "query",
                format!("invalid query parameter name '{q}'"),
            )]);
        }
        let challenge = HeaderValue::from_str(&format!(
            "APIKey realm=\"portcullis\", {}",
            match (&header, &self.query) {
                (Some(h), _) => format!("header=\"{h}\""),
                (None, Some(q)) => format!("query=\"{q}\""),
                (None, None) => String::new(),
            }
        ))
        .map_err(|_| vec![CompileError::at("", "cannot build WWW-Authenticate")])?;
        Ok(Arc::new(VerifyApiKey {
            header,
            query: self.query,
            hide: self.hide_credentials,
            keys: ctx.deps.keys.clone(),
            challenge,
        }))
    }
}

/// The compiled policy.
pub struct VerifyApiKey {
    header: Option<HeaderName>,
    query: Option<String>,
    hide: bool,
    keys: Arc<KeyIndex>,
    challenge: HeaderValue,
}

impl VerifyApiKey {
    fn presented(&self, ex: &Exchange) -> Option<String> {
        if let Some(h) = &self.header
            && let Some(v) = ex.request.headers.get(h).and_then(|v| v.to_str().ok())
        {
            return Some(v.trim().to_owned());
        }
        let name = self.query.as_deref()?;
        ex.request.uri.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| v.to_owned())
        })
    }

    fn hide(&self, ex: &mut Exchange) {
        if let Some(h) = &self.header {
            ex.request.headers.remove(h);
        }
        let (Some(name), Some(query)) = (self.query.as_deref(), ex.request.uri.query()) else {
            return;
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| p.split_once('=').map_or(*p, |(k, _)| k) != name)
            .collect();
        let path = ex.request.uri.path();
        let pq = if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", kept.join("&"))
        };
        if let Ok(uri) = pq.parse() {
            ex.request.uri = uri;
        }
    }

    fn reject(&self, err: GatewayError) -> GatewayError {
        err.with_header(header::WWW_AUTHENTICATE, self.challenge.clone())
    }
}

#[async_trait]
impl Policy for VerifyApiKey {
    fn kind(&self) -> &'static str {
        "verify-api-key"
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        let Some(key) = self.presented(ex).filter(|k| !k.is_empty()) else {
            return Err(self.reject(GatewayError::key_missing()));
        };
        let entry = match self.keys.lookup(&key, SystemTime::now()) {
            KeyLookup::Valid(e) => e,
            KeyLookup::Unknown => return Err(self.reject(GatewayError::key_invalid())),
            KeyLookup::Revoked(_) => return Err(self.reject(GatewayError::key_revoked())),
            KeyLookup::Expired(_) => return Err(self.reject(GatewayError::key_expired())),
            KeyLookup::AppRevoked(_) => return Err(self.reject(GatewayError::app_revoked())),
            KeyLookup::DeveloperInactive(_) => {
                return Err(self.reject(GatewayError::developer_inactive()));
            }
        };
        ex.ctx.identity = Some(Identity {
            app_id: entry.app_id.as_str().into(),
            app_name: entry.app_name.as_str().into(),
            developer_id: entry.developer_id.as_str().into(),
            developer_email: entry.developer_email.as_str().into(),
            credential: entry.prefix.as_str().into(),
        });
        if self.hide {
            self.hide(ex);
        }
        Ok(Decision::Continue)
    }
}

#[cfg(test)]
mod tests;
