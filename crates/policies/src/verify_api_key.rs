//! `verify-api-key`: admits a request only with a valid API key whose app is approved, whose
//! developer is active, and which is approved for an API product that covers this environment,
//! API, resource path and method (Apigee's VerifyAPIKey). Attaches the caller (app, developer)
//! and the matched product to the request for later policies and the access log.
//!
//! Protects against anonymous use of an API and against a key issued for one API, path, method
//! or environment being used for another. The key comes from a header or a query parameter; it
//! is checked against the in-memory credential index (the hot path never queries the
//! database), which the store's change feed keeps current, so a revocation of the key, its app,
//! its developer or one product association takes effect within the feed's delay. Phase:
//! request.
//!
//! Verdicts, in order (each a distinct code, all 401 with a `WWW-Authenticate` challenge, as
//! Apigee answers them): `key.missing`, `key.invalid`, `key.revoked`, `key.expired`,
//! `app.revoked`, `developer.inactive`; then the product level: `key.not_approved` when the
//! credential has no *approved* product association at all (none, pending or revoked ones
//! only), otherwise, when no approved product covers the request, the most specific miss among
//! them: `product.environment_not_allowed`, `product.api_not_allowed`,
//! `product.path_not_allowed`, `product.method_not_allowed`. See docs/api-products.md.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use http::{HeaderName, HeaderValue, header};
use portcullis_core::{ApiProduct, GatewayError, Identity, ScopeMiss};
use portcullis_policy::{Decision, Exchange, Policy};
use portcullis_store::{CredentialEntry, KeyIndex, KeyLookup, ProductDenial, ProductEntry};
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
    /// Admit a key only if one of its approved API products covers this environment, API,
    /// resource path and method. Default true. `false` restores key-only checks (key, app and
    /// developer), for keys issued without products (`portcullis keys create` without
    /// `--product`): products are then never a reason to refuse, but a covering product is
    /// still attached to the request when there is one.
    #[serde(default = "yes")]
    pub require_product: bool,
}

/// What `verify-api-key` admitted a request with, in `request.extensions` for later policies
/// (the quota policy reads the product's quota; header and routing policies read attributes):
/// the credential with its app, developer and their custom attributes, and the API product that
/// covers the request with its quota and attributes. Both are the credential index's shared
/// entries, so attaching them copies nothing. The key itself is not in here (only its hash,
/// redacted in `Debug`).
#[derive(Debug, Clone)]
pub struct VerifiedApiKey {
    /// The credential, its app and developer (ids, names, statuses, attributes).
    pub credential: Arc<CredentialEntry>,
    /// The first approved product (by name) covering the request; `None` only under
    /// `require_product: false` when no product covers it.
    pub product: Option<Arc<ProductEntry>>,
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
            require_product: self.require_product,
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
    require_product: bool,
}

impl VerifyApiKey {
    /// The key as presented, borrowed from the request (no copy per request).
    fn presented<'a>(&self, ex: &'a Exchange) -> Option<&'a str> {
        if let Some(h) = &self.header
            && let Some(v) = ex.request.headers.get(h).and_then(|v| v.to_str().ok())
        {
            return Some(v.trim());
        }
        let name = self.query.as_deref()?;
        ex.request.uri.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
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
        let entry = match self.keys.lookup(key, SystemTime::now()) {
            KeyLookup::Valid(e) => e,
            KeyLookup::Unknown => return Err(self.reject(GatewayError::key_invalid())),
            KeyLookup::Revoked(_) => return Err(self.reject(GatewayError::key_revoked())),
            KeyLookup::Expired(_) => return Err(self.reject(GatewayError::key_expired())),
            KeyLookup::AppRevoked(_) => return Err(self.reject(GatewayError::app_revoked())),
            KeyLookup::DeveloperInactive(_) => {
                return Err(self.reject(GatewayError::developer_inactive()));
            }
        };
        let product = match entry.authorize(
            &ex.ctx.environment,
            &ex.ctx.api,
            ex.ctx.path_suffix(),
            &ex.request.method,
        ) {
            Ok(product) => Some(Arc::clone(product)),
            Err(denial) if self.require_product => return Err(self.reject(refusal(denial))),
            Err(_) => None,
        };
        attach(ex, entry, product);
        if self.hide {
            self.hide(ex);
        }
        Ok(Decision::Continue)
    }
}

/// The client's answer for a product-level refusal. The detail says which dimension refused
/// (the caller knows its own request), never which products the key has.
fn refusal(denial: ProductDenial) -> GatewayError {
    let miss = match denial {
        ProductDenial::NotApproved => return GatewayError::key_not_approved(),
        ProductDenial::OutOfScope(miss) => miss,
    };
    let err = match miss {
        ScopeMiss::Environment => GatewayError::product_environment_not_allowed(),
        ScopeMiss::Api => GatewayError::product_api_not_allowed(),
        ScopeMiss::Path => GatewayError::product_path_not_allowed(),
        ScopeMiss::Method => GatewayError::product_method_not_allowed(),
    };
    err.with_detail(miss.to_string())
}

/// Sets the caller identity (read by spike arrest by app and the access log), the product name
/// (access log) and the full [`VerifiedApiKey`] (later policies). Every name is shared with the
/// credential index: reference-count bumps, no string copies.
fn attach(ex: &mut Exchange, entry: Arc<CredentialEntry>, product: Option<Arc<ProductEntry>>) {
    ex.ctx.identity = Some(Identity {
        app_id: Arc::clone(&entry.app_id),
        app_name: Arc::clone(&entry.app_name),
        developer_id: Arc::clone(&entry.developer_id),
        developer_email: Arc::clone(&entry.developer_email),
        credential: Arc::clone(&entry.prefix),
    });
    if let Some(p) = &product {
        ex.request
            .extensions
            .insert(ApiProduct(Arc::clone(&p.name)));
    }
    ex.request.extensions.insert(VerifiedApiKey {
        credential: entry,
        product,
    });
}

#[cfg(test)]
mod tests;
