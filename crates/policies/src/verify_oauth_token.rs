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
//! - **External introspection** (`introspection`): opaque tokens of another authorization
//!   server are resolved through its RFC 7662 endpoint, answers cached the same way.
//!
//! - **Certificate-bound tokens** (RFC 8705, `cnf.x5t#S256`, opaque, JWT or introspected) are
//!   accepted only over TLS with the same verified client certificate ([`mtls`]).
//! - **DPoP** (RFC 9449, [`dpop`]): `Authorization: DPoP <token>` plus a `DPoP` proof, bound to
//!   the token's `cnf.jkt`; bound tokens presented as `Bearer` are refused; `dpop.required`
//!   refuses Bearer tokens altogether.
//!
//! Errors (problem+json): 401 `token.missing` / `token.invalid` / `token.expired` with
//! `WWW-Authenticate: Bearer realm="…", error="invalid_token"` (none for a missing token, RFC
//! 6750 §3.1), 503 `gateway.unavailable` while the store cannot be read. Phase: request.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::{HeaderValue, header};
use portcullis_core::{DurationSpec, GatewayError, Identity};
use portcullis_oauth::{Inactive, LocalTokens, RemoteIntrospection, ResolveError, TokenInfo};
use portcullis_policy::{Decision, Exchange, Policy};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::registry::{CompileCtx, CompileError, PolicyConfig};

mod claim_headers;
mod dpop;

use claim_headers::ClaimHeaders;

pub use dpop::DpopConfig;
use dpop::{Dpop, Scheme};

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
    /// Remove the `Authorization` (and `DPoP`) header before the request goes upstream. Default
    /// true.
    #[serde(default = "yes")]
    pub hide_credentials: bool,
    /// Resolve tokens through another authorization server's RFC 7662 introspection endpoint
    /// instead of the built-in server.
    #[serde(default)]
    pub introspection: Option<IntrospectionConfig>,
    /// DPoP proof-of-possession (RFC 9449): `Authorization: DPoP <token>` with a `DPoP` proof.
    /// DPoP-bound tokens are always checked; `required: true` also refuses Bearer tokens.
    #[serde(default)]
    pub dpop: DpopConfig,
    /// Token values copied into request headers for the upstream: claim → header name
    /// (`sub`, `client_id`, `scope` space-separated, `aud` = the products, `jti`, or any other
    /// claim of a JWT / stored claim of an opaque token; dots reach into objects). Incoming
    /// headers of those names are always removed first.
    #[serde(default)]
    pub claims_to_headers: BTreeMap<String, String>,
}

/// An external introspection endpoint.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct IntrospectionConfig {
    /// The endpoint (https, or http for a loopback host).
    pub url: String,
    /// Client id the gateway authenticates with (`client_secret_basic`).
    pub client_id: String,
    /// Environment variable holding the client secret (secrets are never written in the
    /// config file). Exactly one of `client_secret_env` and `client_secret_file` is required.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// File holding the client secret (e.g. a mounted secret), relative to the config file.
    #[serde(default)]
    pub client_secret_file: Option<String>,
    /// Longest time an answer is reused (also bounded by the token's `exp`).
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl: DurationSpec,
}

fn default_cache_ttl() -> DurationSpec {
    DurationSpec(Duration::from_secs(30))
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
        let remote = match &self.introspection {
            None => None,
            Some(i) => Some(Arc::new(remote(i, ctx.base_dir)?)),
        };
        let dpop = Dpop::compile(&self.dpop)?;
        let claim_headers = ClaimHeaders::compile(&self.claims_to_headers)?;
        Ok(Arc::new(VerifyOAuthToken {
            dpop,
            claim_headers,
            tokens: ctx.deps.oauth.clone(),
            remote,
            leeway: self.leeway.0,
            realm: self.realm,
            hide: self.hide_credentials,
        }))
    }
}

fn remote(
    i: &IntrospectionConfig,
    base: &std::path::Path,
) -> Result<RemoteIntrospection, Vec<CompileError>> {
    let at = |f: &str, m: String| vec![CompileError::at(format!("introspection.{f}"), m)];
    let uri: http::Uri = i
        .url
        .parse()
        .map_err(|_| at("url", format!("invalid URL '{}'", i.url)))?;
    let loopback = uri.host().is_some_and(|h| {
        h == "localhost"
            || h.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if loopback => {}
        _ => {
            return Err(at(
                "url",
                "must be https (http only for a loopback host)".into(),
            ));
        }
    }
    if i.cache_ttl.0 > Duration::from_secs(300) {
        return Err(at("cache_ttl", "must be at most 5m".into()));
    }
    let secret = match (&i.client_secret_env, &i.client_secret_file) {
        (Some(var), None) => std::env::var(var).map_err(|_| {
            at(
                "client_secret_env",
                format!("environment variable {var} is not set"),
            )
        })?,
        (None, Some(file)) => std::fs::read_to_string(base.join(file))
            .map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
            .map_err(|e| at("client_secret_file", format!("cannot read {file}: {e}")))?,
        _ => {
            return Err(vec![CompileError::at(
                "introspection",
                "set exactly one of client_secret_env and client_secret_file",
            )]);
        }
    };
    RemoteIntrospection::new(&i.url, &i.client_id, &secret, i.cache_ttl.0, 100_000)
        .map_err(|m| at("url", m))
}

/// What `verify-oauth-token` learnt, in `Exchange::request.extensions` (read by
/// `require-scopes`).
#[derive(Debug, Clone)]
pub struct OAuthPrincipal(pub Arc<TokenInfo>);

/// The compiled policy.
pub struct VerifyOAuthToken {
    tokens: Arc<LocalTokens>,
    remote: Option<Arc<RemoteIntrospection>>,
    leeway: Duration,
    realm: String,
    hide: bool,
    dpop: Dpop,
    claim_headers: ClaimHeaders,
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

    /// A token refusal, challenged in the scheme the client used.
    fn invalid(
        &self,
        scheme: Scheme,
        base: GatewayError,
        reason: &'static str,
        desc: &'static str,
    ) -> GatewayError {
        let challenge = match scheme {
            Scheme::Bearer => self.challenge(Some(desc)),
            Scheme::Dpop => self
                .dpop
                .challenge(&self.realm, Some(("invalid_token", desc))),
        };
        base.with_detail(desc)
            .with_extra("reason", reason.into())
            .with_header(header::WWW_AUTHENTICATE, challenge)
    }
}

/// The token of `Authorization: Bearer <token>` (RFC 6750 §2.1) or `Authorization: DPoP
/// <token>` (RFC 9449 §7.1). `Err` for a request with several Authorization headers or an
/// unreadable one.
fn credentials(ex: &Exchange) -> Result<Option<(Scheme, &str)>, ()> {
    let mut values = ex.request.headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    let text = value.to_str().map_err(|_| ())?;
    let (scheme, rest) = text.trim().split_once(' ').unwrap_or((text, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Ok(None);
    };
    let token = rest.trim();
    Ok((!token.is_empty()).then_some((scheme, token)))
}

#[async_trait]
impl Policy for VerifyOAuthToken {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn on_request(&self, ex: &mut Exchange) -> Result<Decision, GatewayError> {
        self.claim_headers.strip(&mut ex.request.headers);
        let (scheme, token) = match credentials(ex) {
            Ok(Some((s, t))) => (s, t.to_owned()),
            Ok(None) => {
                let challenge = if self.dpop.required {
                    self.dpop.challenge(&self.realm, None)
                } else {
                    self.challenge(None)
                };
                return Err(
                    GatewayError::token_missing().with_header(header::WWW_AUTHENTICATE, challenge)
                );
            }
            Err(()) => {
                return Err(self.invalid(
                    Scheme::Bearer,
                    GatewayError::token_invalid(),
                    "malformed",
                    "malformed Authorization header",
                ));
            }
        };
        if scheme == Scheme::Bearer && self.dpop.required {
            return Err(self.invalid(
                Scheme::Dpop,
                GatewayError::token_invalid(),
                "dpop_required",
                "a DPoP-bound token and a DPoP proof are required",
            ));
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(self.invalid(
                scheme,
                GatewayError::token_invalid(),
                "too_large",
                "token too large",
            ));
        }
        let resolved = match &self.remote {
            Some(remote) => remote.resolve(&token).await,
            None => self.tokens.resolve(&token, self.leeway).await,
        };
        let info = match resolved {
            Ok(Ok(info)) => info,
            Ok(Err(Inactive::Expired)) => {
                return Err(self.invalid(
                    scheme,
                    GatewayError::token_expired(),
                    "expired",
                    "token expired",
                ));
            }
            Ok(Err(Inactive::Revoked)) => {
                return Err(self.invalid(
                    scheme,
                    GatewayError::token_invalid(),
                    "revoked",
                    "token revoked",
                ));
            }
            Ok(Err(Inactive::Invalid)) => {
                return Err(self.invalid(
                    scheme,
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
        if !mtls::holder_presented_certificate(&info, ex) {
            return Err(self.invalid(
                scheme,
                GatewayError::token_invalid(),
                "certificate_mismatch",
                "token is bound to a client certificate that this request did not present",
            ));
        }
        match scheme {
            Scheme::Dpop => self.dpop.check(ex, &self.realm, &token, &info)?,
            // A bound token without its proof is a stolen token until proven otherwise.
            Scheme::Bearer if info.cnf_jkt.is_some() => {
                return Err(self.invalid(
                    Scheme::Bearer,
                    GatewayError::token_invalid(),
                    "dpop_bound",
                    "the token is DPoP-bound: present it with the DPoP scheme and a proof",
                ));
            }
            Scheme::Bearer => {}
        }
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
        self.claim_headers.apply(&info, &mut ex.request.headers);
        ex.request.extensions.insert(OAuthPrincipal(info));
        if self.hide {
            ex.request.headers.remove(header::AUTHORIZATION);
            ex.request.headers.remove("dpop");
        }
        Ok(Decision::Continue)
    }
}

mod mtls;
#[cfg(test)]
mod tests;
