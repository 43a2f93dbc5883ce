//! `kvm-lookup`: puts a value of the request's environment's encrypted key-value maps into a
//! request header for the upstream, typically a backend API secret the gateway holds so that
//! clients and config files never do (Apigee's KeyValueMapOperations `Get` plus AssignMessage).
//!
//! Protects the secret: it lives encrypted in the store, is read from the node's in-memory
//! [`KvmSnapshot`] (kept current by the store's change feed, so a rotated value is used within
//! about a second, and no request waits on the database), and goes only into the upstream
//! request. The header is marked sensitive (never indexed by HTTP/2 header compression,
//! redacted in `Debug`); the value is never logged, never put into an error, and the compiled
//! policy holds only the map and key names (which is all `/admin/v1/status` and `Debug` can
//! show). A header of the same name sent by the client is always removed first, so a client
//! cannot supply its own "secret". Phase: request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use portcullis_core::GatewayError;
use portcullis_policy::{Decision, Exchange, Phase, Policy};
use portcullis_store::KvmSnapshot;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::registry::{CompileCtx, CompileError, PolicyConfig};
use crate::set_headers::{header_name, header_value};

const KIND: &str = "kvm-lookup";
/// Placeholder for the entry's value in `format`.
const PLACEHOLDER: &str = "{value}";
/// At most one warning about a missing entry per policy per this many milliseconds.
const WARN_EVERY_MS: u64 = 30_000;

/// Config of `kvm-lookup`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct KvmLookupConfig {
    /// Name of the key-value map, looked up in the environment of the listener the request
    /// arrived on (so `test` and `prod` can hold different secrets under the same names).
    pub map: String,
    /// Key of the entry in the map.
    pub key: String,
    /// Request header that receives the value (e.g. `authorization`, `x-backend-key`).
    pub header: String,
    /// How the header value is built from the entry's value, which replaces `{value}` (exactly
    /// once). Default `{value}`; e.g. `Bearer {value}`.
    #[serde(default)]
    pub format: Option<String>,
    /// When the entry does not exist: `fail` (default) answers 500 `kvm.entry_missing` and does
    /// not call the upstream; `skip` forwards the request without the header.
    #[serde(default)]
    pub on_missing: OnMissing,
}

/// What to do when the configured entry is missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnMissing {
    /// Refuse the request (500 `kvm.entry_missing`).
    #[default]
    Fail,
    /// Forward it without the header.
    Skip,
}

/// The compiled policy: names and the snapshot handle, never a value.
#[derive(Debug)]
pub struct KvmLookup {
    map: String,
    key: String,
    header: HeaderName,
    /// Text before and after `{value}`.
    affixes: (String, String),
    on_missing: OnMissing,
    kvm: Arc<KvmSnapshot>,
    /// When the last missing-entry warning was logged (ms since `started`), 0 = never.
    last_warn: AtomicU64,
    started: Instant,
}

// === impl KvmLookupConfig ===

impl PolicyConfig for KvmLookupConfig {
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        let mut errors = Vec::new();
        if ctx.phase != Phase::Request {
            errors.push(CompileError::at(
                "",
                "kvm-lookup sets a header for the upstream: place it in a request list",
            ));
        }
        check_name("map", &self.map, 100, &mut errors);
        check_name("key", &self.key, 256, &mut errors);
        let header = header_name("header", &self.header, "set", &mut errors);
        let format = self.format.as_deref().unwrap_or(PLACEHOLDER);
        let affixes = match format.split_once(PLACEHOLDER) {
            Some((pre, post)) if !post.contains(PLACEHOLDER) => {
                // The fixed parts must be valid header text on their own.
                header_value("format", &format!("{pre}{post}"), &mut errors);
                Some((pre.to_owned(), post.to_owned()))
            }
            _ => {
                errors.push(CompileError::at(
                    "format",
                    "must contain {value} exactly once",
                ));
                None
            }
        };
        match (header, affixes) {
            (Some(header), Some(affixes)) if errors.is_empty() => Ok(Arc::new(KvmLookup {
                map: self.map,
                key: self.key,
                header,
                affixes,
                on_missing: self.on_missing,
                kvm: ctx.deps.kvm.clone(),
                last_warn: AtomicU64::new(0),
                started: Instant::now(),
            })),
            _ => Err(errors),
        }
    }
}

/// Map names and keys as the store accepts them: non-empty, bounded, no control characters.
fn check_name(field: &str, value: &str, max: usize, errors: &mut Vec<CompileError>) {
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        errors.push(CompileError::at(
            field,
            format!("must be 1 to {max} characters without control characters"),
        ));
    } else if field == "map" && value.contains('/') {
        errors.push(CompileError::at(field, "must not contain '/'"));
    }
}

// === impl KvmLookup ===

impl KvmLookup {
    /// Builds the header value without an intermediate `String` copy of the secret.
    fn header_value(&self, secret: &str) -> Result<HeaderValue, GatewayError> {
        let (pre, post) = &self.affixes;
        let mut buf = Vec::with_capacity(pre.len() + secret.len() + post.len());
        buf.extend_from_slice(pre.as_bytes());
        buf.extend_from_slice(secret.as_bytes());
        buf.extend_from_slice(post.as_bytes());
        let mut value = HeaderValue::from_maybe_shared(Bytes::from(buf))
            .map_err(|_| GatewayError::kvm_value_invalid())?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Logs a missing entry by its names (never a value), at most once per [`WARN_EVERY_MS`].
    fn warn_missing(&self, environment: &str) {
        let now = u64::try_from(self.started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let last = self.last_warn.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= WARN_EVERY_MS;
        if due
            && self
                .last_warn
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                environment,
                map = %self.map,
                key = %self.key,
                "kvm-lookup: entry not found"
            );
        }
    }
}

#[async_trait]
impl Policy for KvmLookup {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        ex.request.headers.remove(&self.header);
        let Some(secret) = self.kvm.get(&ex.ctx.environment, &self.map, &self.key) else {
            self.warn_missing(&ex.ctx.environment);
            return match self.on_missing {
                OnMissing::Fail => Err(GatewayError::kvm_entry_missing()),
                OnMissing::Skip => Ok(Decision::Continue),
            };
        };
        let value = self.header_value(secret.expose())?;
        ex.request.headers.insert(self.header.clone(), value);
        Ok(Decision::Continue)
    }
}

#[cfg(test)]
mod tests;
