//! `phantom-token`: the client holds an opaque access token; the backend receives a signed JWT
//! with the token's claims instead (the "phantom token" pattern). Placed after
//! `verify-oauth-token`, it signs with the built-in authorization server's active key (so
//! backends verify it with the server's JWKS) and caches the JWT per token until the token
//! expires, so a busy token costs one signature, not one per request.
//!
//! Protects the backend from handling (and logging) bearer tokens it could replay elsewhere, and
//! from having to call introspection itself. The JWT has `typ: JWT` (not `at+jwt`), so it is
//! never accepted as an access token by `verify-oauth-token` if it leaks from a backend. Without
//! a verified token before it the request is refused (401 `token.missing`: fail closed).
//! Phase: request.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use http::{HeaderName, HeaderValue, header};
use portcullis_core::GatewayError;
use portcullis_oauth::LocalTokens;
use portcullis_policy::{Decision, Exchange, Policy};
use quick_cache::sync::Cache;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::registry::{CompileCtx, CompileError, PolicyConfig};
use crate::verify_oauth_token::OAuthPrincipal;

/// Config of `phantom-token`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct PhantomTokenConfig {
    /// Header carrying the JWT upstream. `authorization` (default) sends `Bearer <jwt>`;
    /// any other header gets the bare JWT.
    #[serde(default = "default_header")]
    pub header: String,
    /// `aud` of the JWT (the backend). Absent: the API products the token was granted through.
    #[serde(default)]
    pub audience: Option<String>,
    /// Most JWTs kept in the cache.
    #[serde(default = "default_entries")]
    pub cache_entries: usize,
}

fn default_header() -> String {
    "authorization".into()
}

fn default_entries() -> usize {
    100_000
}

impl PolicyConfig for PhantomTokenConfig {
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        let header = HeaderName::from_bytes(self.header.as_bytes()).map_err(|_| {
            vec![CompileError::at(
                "header",
                format!("invalid header name '{}'", self.header),
            )]
        })?;
        Ok(Arc::new(PhantomToken {
            bearer: header == header::AUTHORIZATION,
            header,
            audience: self.audience,
            tokens: ctx.deps.oauth.clone(),
            cache: Cache::new(self.cache_entries.max(16)),
        }))
    }
}

/// The compiled policy.
pub struct PhantomToken {
    header: HeaderName,
    bearer: bool,
    audience: Option<String>,
    tokens: Arc<LocalTokens>,
    /// JWT by token id, with the token's expiry.
    cache: Cache<String, (HeaderValue, SystemTime)>,
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl PhantomToken {
    fn mint(&self, p: &OAuthPrincipal) -> Result<HeaderValue, GatewayError> {
        let info = &p.0;
        let unavailable =
            || GatewayError::service_unavailable().with_detail("no token signing key is available");
        let keys = self
            .tokens
            .signing_keys()
            .ok_or_else(unavailable)?
            .current();
        let signer = keys.active.as_ref().ok_or_else(unavailable)?;
        let aud = match &self.audience {
            Some(a) => serde_json::Value::from(a.clone()),
            None => serde_json::Value::from(info.products.clone()),
        };
        let claims = serde_json::json!({
            "iss": self.tokens.issuer().unwrap_or_default(),
            "sub": info.subject.clone().unwrap_or_else(|| info.client_id.clone()),
            "aud": aud,
            "client_id": info.client_id,
            "scope": info.scopes.join(" "),
            "iat": unix(SystemTime::now()),
            "exp": unix(info.expires_at),
            "jti": info.id,
        });
        let jwt = signer.sign(&claims).map_err(|_| GatewayError::internal())?;
        let text = if self.bearer {
            format!("Bearer {jwt}")
        } else {
            jwt
        };
        HeaderValue::from_str(&text).map_err(|_| GatewayError::internal())
    }
}

#[async_trait]
impl Policy for PhantomToken {
    fn kind(&self) -> &'static str {
        "phantom-token"
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        let Some(p) = ex.request.extensions.get::<OAuthPrincipal>().cloned() else {
            return Err(GatewayError::token_missing()
                .with_detail("no verified access token precedes phantom-token"));
        };
        let now = SystemTime::now();
        let value = match self.cache.get(&p.0.id) {
            Some((v, exp)) if exp > now => v,
            _ => {
                let v = self.mint(&p)?;
                self.cache
                    .insert(p.0.id.clone(), (v.clone(), p.0.expires_at));
                v
            }
        };
        ex.request.headers.insert(self.header.clone(), value);
        Ok(Decision::Continue)
    }
}
