//! `verify-jwt`: admits a request only with a valid JWT access token from a configured
//! third-party issuer, and attaches the caller (subject, client, scopes) for later policies.
//!
//! Protects against forged and misused tokens: the algorithms are pinned per issuer (`alg: none`
//! in any spelling, HMAC with a public key as secret, RS↔PS swaps are refused), keys come only
//! from the configured JWKS (a `jku`/`x5u`/`jwk` header is never fetched or used), `exp` is
//! required and time claims must be numbers, `iss` and `aud` must match, unknown `crit` headers
//! are refused, and ID tokens can be refused as access tokens (`nonce`, `typ`). The JWKS is
//! cached per `Cache-Control: max-age`; an unknown `kid` refetches it at most once per
//! `jwks_cache.refresh_interval`. Phase: request. See docs/jwt.md.
//!
//! Errors: 401 `token.missing` / `token.invalid` / `token.expired` with
//! `WWW-Authenticate: Bearer realm=..., error="invalid_token"` (RFC 6750), or 503
//! `gateway.unavailable` while no key set could be fetched yet.

mod config;
mod token;

use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderName, HeaderValue, header};
use portcullis_core::{GatewayError, Identity};
use portcullis_jose::{Verified, VerifiedCache, Verifier, VerifyError};
use portcullis_policy::{Decision, Exchange, Policy};

pub use config::{JwksCacheConfig, JwtAlgorithm, VerifyJwtConfig};
use token::TokenFrom;

const KIND: &str = "verify-jwt";

/// What `verify-jwt` learnt about the caller, in `Exchange::request.extensions` for later
/// policies (scope checks) and handlers. The core [`Identity`] is set as well.
#[derive(Debug, Clone)]
pub struct JwtPrincipal {
    /// `iss`.
    pub issuer: Arc<str>,
    /// `sub`, if present.
    pub subject: Option<Arc<str>>,
    /// `client_id`, `azp` or `cid`, if present.
    pub client_id: Option<Arc<str>>,
    /// Scopes from `scope` or `scp`.
    pub scopes: Arc<[String]>,
    /// All claims of the verified token.
    pub claims: Arc<serde_json::Map<String, serde_json::Value>>,
}

/// The compiled policy.
pub struct VerifyJwt {
    verifier: Verifier,
    /// Tokens verified before, with what they attach ready-made (a busy token costs one
    /// signature check; time claims and key presence are checked again on every hit).
    verified: VerifiedCache<Attached>,
    token_from: TokenFrom,
    claims_to_headers: Vec<(String, HeaderName)>,
    realm: String,
    hide_credentials: bool,
}

impl VerifyJwt {
    fn challenge(&self, error: Option<&VerifyError>) -> HeaderValue {
        let value = match error {
            None => format!("Bearer realm=\"{}\"", self.realm),
            Some(e) => format!(
                "Bearer realm=\"{}\", error=\"invalid_token\", error_description=\"{}\"",
                self.realm,
                description(e)
            ),
        };
        // The realm is validated at compile time and error texts are fixed ASCII.
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }

    fn reject(&self, e: &VerifyError) -> GatewayError {
        let base = match e {
            VerifyError::KeysUnavailable => {
                return GatewayError::service_unavailable()
                    .with_detail("token signing keys are unavailable");
            }
            VerifyError::Expired => GatewayError::token_expired(),
            _ => GatewayError::token_invalid(),
        };
        base.with_detail(e.to_string())
            .with_extra("reason", serde_json::Value::from(e.kind()))
            .with_header(header::WWW_AUTHENTICATE, self.challenge(Some(e)))
    }

    /// What a verified token attaches to a request, computed once per token.
    fn prepare(&self, token: &Verified) -> Attached {
        let subject = token.subject().map(Arc::<str>::from);
        let client_id = token.client_id().map(Arc::<str>::from);
        let caller: Arc<str> = client_id
            .clone()
            .or_else(|| subject.clone())
            .unwrap_or_else(|| "".into());
        let identity = Identity {
            app_id: caller.clone(),
            app_name: caller,
            developer_id: "".into(),
            developer_email: "".into(),
            credential: format!("jwt:{}", subject.as_deref().unwrap_or("")).into(),
        };
        let headers = self
            .claims_to_headers
            .iter()
            .filter_map(|(claim, name)| {
                claim_value(&token.claims, claim)
                    .and_then(header_value)
                    .map(|v| (name.clone(), v))
            })
            .collect();
        Attached {
            identity,
            headers,
            principal: JwtPrincipal {
                issuer: token.str_claim("iss").unwrap_or_default().into(),
                subject,
                client_id,
                scopes: token.scopes().into(),
                claims: Arc::new(token.claims.clone()),
            },
        }
    }
}

/// Identity, claim headers and principal of one verified token.
struct Attached {
    identity: Identity,
    headers: Vec<(HeaderName, HeaderValue)>,
    principal: JwtPrincipal,
}

impl Attached {
    fn apply(&self, ex: &mut Exchange) {
        ex.ctx.identity = Some(self.identity.clone());
        for (name, value) in &self.headers {
            ex.request.headers.insert(name.clone(), value.clone());
        }
        ex.request.extensions.insert(self.principal.clone());
    }
}

#[async_trait]
impl Policy for VerifyJwt {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        // Headers we set from claims must never come from the client, even if the token fails
        // (monitor mode lets the request through).
        for (_, name) in &self.claims_to_headers {
            ex.request.headers.remove(name);
        }
        let token = match self.token_from.extract(ex) {
            Ok(Some(token)) => token,
            Ok(None) => {
                return Err(GatewayError::token_missing()
                    .with_header(header::WWW_AUTHENTICATE, self.challenge(None)));
            }
            Err(e) => return Err(self.reject(&e)),
        };
        let attached = self
            .verifier
            .verify_cached(&token, &self.verified, |v| self.prepare(v))
            .await
            .map_err(|e| self.reject(&e))?;
        attached.apply(ex);
        if self.hide_credentials {
            self.token_from.remove(ex);
        }
        Ok(Decision::Continue)
    }
}

/// A fixed text for the challenge: never a claim name or anything else from config or token,
/// so the header's quoting cannot break.
fn description(e: &VerifyError) -> String {
    match e {
        VerifyError::Malformed(_) => "malformed token".to_owned(),
        VerifyError::MissingClaim(_) => "missing required claim".to_owned(),
        VerifyError::InvalidClaim(_) => "invalid claim type".to_owned(),
        other => other.to_string(),
    }
}

/// A top-level claim by exact name, else a dotted path into nested objects
/// (`realm_access.roles`).
pub(crate) fn claim_value<'a>(
    claims: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// Strings as they are, arrays of strings joined with `,`, other values as compact JSON; values
/// a header cannot carry (control characters) are left out.
pub(crate) fn header_value(value: &serde_json::Value) -> Option<HeaderValue> {
    let text = match value {
        serde_json::Value::Null => return None,
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) if items.iter().all(|i| i.is_string()) => items
            .iter()
            .filter_map(|i| i.as_str())
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    HeaderValue::from_bytes(text.as_bytes()).ok()
}

#[cfg(test)]
mod tests;
