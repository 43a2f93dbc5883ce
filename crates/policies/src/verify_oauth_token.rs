//! `verify-oauth-token`: admits a request only with an active access token of the built-in
//! authorization server (RFC 6750 bearer token), and attaches the calling app, end user and
//! scopes for later policies (`require-scopes`, rate limits by app) and logs.
//!
//! Protects against anonymous, forged, expired and revoked tokens:
//! - **Opaque tokens** are resolved through the store once, then from a bounded in-memory
//!   cache until they expire (at most `portcullis_oauth::DEFAULT_CACHE_TTL`, which bounds how
//!   long a revocation made on another node takes here; revocations through this node apply at
//!   once). The request path does not query the database for a known token.
//! - **JWT access tokens** are verified against the server's published keys (asymmetric
//!   algorithms pinned, key must fit the algorithm, `typ: at+jwt`, `iss`, required `exp`,
//!   leeway, ID tokens refused).
//! - A token of a revoked credential, app or developer stops working (opaque), as in Apigee.
//!
//! Errors (problem+json): 401 `token.missing` / `token.invalid` / `token.expired` with
//! `WWW-Authenticate: Bearer realm="…", error="invalid_token"` (none for a missing token, RFC
//! 6750 §3.1), 503 `gateway.unavailable` while the store cannot be read. Phase: request.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::{HeaderValue, header};
use portcullis_core::{DurationSpec, GatewayError, Identity};
use portcullis_oauth::{Inactive, LocalTokens, ResolveError, TokenInfo};
use portcullis_policy::{Decision, Exchange, Policy};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::registry::{CompileCtx, CompileError, PolicyConfig};

const KIND: &str = "verify-oauth-token";
/// Longest accepted `leeway`.
const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// Longest token accepted before any parsing (forged megabyte tokens cost nothing).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Config of `verify-oauth-token`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct VerifyOAuthTokenConfig {
    /// Clock skew tolerated on JWT `exp`, `nbf` and `iat` (at most 5m).
    #[serde(default = "default_leeway")]
    pub leeway: DurationSpec,
    /// Realm named in `WWW-Authenticate`.
    #[serde(default = "default_realm")]
    #[schemars(regex(pattern = r#"^[^"\\\x00-\x1f]{1,64}$"#))]
    pub realm: String,
    /// Remove the `Authorization` header before the request goes upstream. Default true.
    #[serde(default = "yes")]
    pub hide_credentials: bool,
}

fn default_leeway() -> DurationSpec {
    DurationSpec(Duration::from_secs(30))
}

fn default_realm() -> String {
    "portcullis".into()
}

fn yes() -> bool {
    true
}

impl PolicyConfig for VerifyOAuthTokenConfig {
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        if self.leeway.0 > MAX_LEEWAY {
            return Err(vec![CompileError::at("leeway", "must be at most 5m")]);
        }
        if self.realm.is_empty()
            || self.realm.len() > 64
            || self
                .realm
                .chars()
                .any(|c| c == '"' || c == '\\' || c.is_control())
        {
            return Err(vec![CompileError::at(
                "realm",
                "must be 1 to 64 characters without quotes, backslashes or control characters",
            )]);
        }
        Ok(Arc::new(VerifyOAuthToken {
            tokens: ctx.deps.oauth.clone(),
            leeway: self.leeway.0,
            realm: self.realm,
            hide: self.hide_credentials,
        }))
    }
}

/// What `verify-oauth-token` learnt, in `Exchange::request.extensions` (read by
/// `require-scopes`).
#[derive(Debug, Clone)]
pub struct OAuthPrincipal(pub Arc<TokenInfo>);

/// The compiled policy.
pub struct VerifyOAuthToken {
    tokens: Arc<LocalTokens>,
    leeway: Duration,
    realm: String,
    hide: bool,
}

impl VerifyOAuthToken {
    fn challenge(&self, error: Option<&str>) -> HeaderValue {
        let text = match error {
            None => format!("Bearer realm=\"{}\"", self.realm),
            Some(desc) => format!(
                "Bearer realm=\"{}\", error=\"invalid_token\", error_description=\"{desc}\"",
                self.realm
            ),
        };
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }

    fn invalid(
        &self,
        base: GatewayError,
        reason: &'static str,
        desc: &'static str,
    ) -> GatewayError {
        base.with_detail(desc)
            .with_extra("reason", reason.into())
            .with_header(header::WWW_AUTHENTICATE, self.challenge(Some(desc)))
    }
}

/// The bearer token of `Authorization: Bearer <token>` (RFC 6750 §2.1). `Err` for a request
/// with several Authorization headers or an unreadable one.
fn bearer(ex: &Exchange) -> Result<Option<&str>, ()> {
    let mut values = ex.request.headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    let text = value.to_str().map_err(|_| ())?;
    let (scheme, rest) = text.trim().split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim();
    Ok((!token.is_empty()).then_some(token))
}

#[async_trait]
impl Policy for VerifyOAuthToken {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        let token = match bearer(ex) {
            Ok(Some(t)) => t.to_owned(),
            Ok(None) => {
                return Err(GatewayError::token_missing()
                    .with_header(header::WWW_AUTHENTICATE, self.challenge(None)));
            }
            Err(()) => {
                return Err(self.invalid(
                    GatewayError::token_invalid(),
                    "malformed",
                    "malformed Authorization header",
                ));
            }
        };
        if token.len() > MAX_TOKEN_BYTES {
            return Err(self.invalid(
                GatewayError::token_invalid(),
                "too_large",
                "token too large",
            ));
        }
        let info = match self.tokens.resolve(&token, self.leeway).await {
            Ok(Ok(info)) => info,
            Ok(Err(Inactive::Expired)) => {
                return Err(self.invalid(
                    GatewayError::token_expired(),
                    "expired",
                    "token expired",
                ));
            }
            Ok(Err(Inactive::Revoked)) => {
                return Err(self.invalid(
                    GatewayError::token_invalid(),
                    "revoked",
                    "token revoked",
                ));
            }
            Ok(Err(Inactive::Invalid)) => {
                return Err(self.invalid(
                    GatewayError::token_invalid(),
                    "invalid",
                    "token unknown or invalid",
                ));
            }
            Err(ResolveError::Unavailable) => {
                return Err(GatewayError::service_unavailable()
                    .with_detail("access tokens cannot be checked right now"));
            }
        };
        let owner = info.owner.as_ref();
        ex.ctx.identity = Some(Identity {
            app_id: owner.map_or(info.client_id.as_str(), |o| &o.app_id).into(),
            app_name: owner
                .map_or(info.client_id.as_str(), |o| &o.app_name)
                .into(),
            developer_id: owner.map_or("", |o| &o.developer_id).into(),
            developer_email: owner.map_or("", |o| &o.developer_email).into(),
            credential: format!("oauth:{}", info.client_id).into(),
        });
        ex.request.extensions.insert(OAuthPrincipal(info));
        if self.hide {
            ex.request.headers.remove(header::AUTHORIZATION);
        }
        Ok(Decision::Continue)
    }
}

#[cfg(test)]
mod tests;
