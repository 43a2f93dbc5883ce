//! Config of `verify-jwt` and its compile step (every check names the offending field).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use portcullis_core::{ByteSize, DurationSpec};
use portcullis_jose::{
    Algorithm, DEFAULT_VERIFIED_ENTRIES, JwksCache, JwksOptions, KeySet, KeySource, Rules,
    VerifiedCache, Verifier, hmac_key,
};
use portcullis_policy::{Phase, Policy};
use schemars::JsonSchema;
use serde::Deserialize;

use super::VerifyJwt;
use super::token::TokenFrom;
use crate::registry::{CompileCtx, CompileError, PolicyConfig};

/// Longest accepted `leeway`: more would make `exp` meaningless.
const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// Shortest accepted HMAC secret (RFC 7518 §3.2: at least the hash size, 256 bits).
const MIN_SECRET_BYTES: usize = 32;

/// Config of `verify-jwt`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct VerifyJwtConfig {
    /// The issuer whose tokens are accepted: the `iss` claim must equal it exactly.
    pub issuer: String,
    /// URL of the issuer's JWKS, fetched and cached (see `jwks_cache`). Must be https unless the
    /// host is a loopback address or `allow_http` is set. Exactly one of `jwks_url`,
    /// `jwks_file` and `jwks` is required.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// A JWKS file (relative to the config file), read when the config is loaded.
    #[serde(default)]
    pub jwks_file: Option<String>,
    /// An inline JWKS (`{keys: [...]}`).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub jwks: Option<serde_json::Value>,
    /// Accepted audiences: the token's `aud` must contain at least one of them.
    #[schemars(length(min = 1))]
    pub audiences: Vec<String>,
    /// Signature algorithms accepted from this issuer; a token's `alg` must be one of them (its
    /// header alone is never trusted). HS256/384/512 also need `shared_secret_env`.
    #[schemars(length(min = 1))]
    pub algorithms: Vec<JwtAlgorithm>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat` (at most 5m).
    #[serde(default = "default_leeway")]
    pub leeway: DurationSpec,
    /// Where the token is: `bearer` (the `Authorization: Bearer` header, default),
    /// `header:<name>` (the whole header value) or `query:<name>`.
    #[serde(default = "default_token_from")]
    #[schemars(regex(pattern = r"^(bearer|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|query:[^&=#?]+)$"))]
    pub token_from: String,
    /// Claims copied into request headers for the upstream, as `claim: header-name` (nested
    /// claims by dotted path, e.g. `realm_access.roles`). Incoming headers of these names are
    /// always removed first, so a client can never supply them.
    #[serde(default)]
    pub claims_to_headers: BTreeMap<String, String>,
    /// Claims that must be present (non-null) besides `exp`, `iss` and `aud`.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// Accepted header `typ` values, e.g. `[at+jwt]` (RFC 9068 access tokens); compared
    /// case-insensitively, `application/` optional. Unset accepts any `typ`.
    #[serde(default)]
    pub token_types: Option<Vec<String>>,
    /// Refuse tokens carrying a `nonce` claim: OpenID Connect ID tokens presented as access
    /// tokens. Default true; set false for issuers that copy `nonce` into access tokens.
    #[serde(default = "yes")]
    pub reject_id_tokens: bool,
    /// Longest accepted token; longer ones are refused before decoding. Default 8KiB.
    #[serde(default = "default_max_token_size")]
    pub max_token_size: ByteSize,
    /// Refuse tokens whose `exp` lies further ahead than this (unset: no limit).
    #[serde(default)]
    pub max_lifetime: Option<DurationSpec>,
    /// Environment variable holding the shared secret for HS256/384/512 (at least 32 bytes).
    /// Never taken from a JWKS.
    #[serde(default)]
    pub shared_secret_env: Option<String>,
    /// Caching of a `jwks_url`.
    #[serde(default)]
    pub jwks_cache: JwksCacheConfig,
    /// Allow `jwks_url` over plain http to a non-loopback host (e.g. inside a cluster).
    #[serde(default)]
    pub allow_http: bool,
    /// `realm` of the `WWW-Authenticate` challenge.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Remove the token from the request before it goes upstream. Default false (backends
    /// often want it).
    #[serde(default)]
    pub hide_credentials: bool,
}

/// An accepted signature algorithm (`none` does not exist here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[allow(clippy::upper_case_acronyms)]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
    /// HMAC SHA-256 (needs `shared_secret_env`).
    HS256,
    /// HMAC SHA-384 (needs `shared_secret_env`).
    HS384,
    /// HMAC SHA-512 (needs `shared_secret_env`).
    HS512,
}

impl JwtAlgorithm {
    fn to_jose(self) -> Algorithm {
        match self {
            Self::RS256 => Algorithm::RS256,
            Self::RS384 => Algorithm::RS384,
            Self::RS512 => Algorithm::RS512,
            Self::PS256 => Algorithm::PS256,
            Self::PS384 => Algorithm::PS384,
            Self::PS512 => Algorithm::PS512,
            Self::ES256 => Algorithm::ES256,
            Self::ES384 => Algorithm::ES384,
            Self::EdDSA => Algorithm::EdDSA,
            Self::HS256 => Algorithm::HS256,
            Self::HS384 => Algorithm::HS384,
            Self::HS512 => Algorithm::HS512,
        }
    }
}

/// Caching of a remote JWKS.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct JwksCacheConfig {
    /// Shortest time a fetched JWKS is used before refetching, whatever `Cache-Control` says
    /// (also applies to `no-cache`/`no-store`). Default 1m.
    #[serde(default = "default_min_ttl")]
    pub min_ttl: DurationSpec,
    /// Longest time a fetched JWKS is used, whatever `max-age` says. Default 24h.
    #[serde(default = "default_max_ttl")]
    pub max_ttl: DurationSpec,
    /// Freshness when the response has no `max-age`. Default 10m.
    #[serde(default = "default_ttl")]
    pub default_ttl: DurationSpec,
    /// Least time between two fetches: a token with an unknown `kid` refetches the JWKS at most
    /// once per interval (kid spraying cannot flood the issuer), and failures are retried no
    /// sooner. Default 30s.
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: DurationSpec,
    /// Limit for one fetch (connect, TLS, response). Default 5s.
    #[serde(default = "default_timeout")]
    pub timeout: DurationSpec,
    /// Largest accepted JWKS response. Default 256KiB.
    #[serde(default = "default_max_size")]
    pub max_size: ByteSize,
}

impl Default for JwksCacheConfig {
    fn default() -> Self {
        Self {
            min_ttl: default_min_ttl(),
            max_ttl: default_max_ttl(),
            default_ttl: default_ttl(),
            refresh_interval: default_refresh_interval(),
            timeout: default_timeout(),
            max_size: default_max_size(),
        }
    }
}

fn yes() -> bool {
    true
}
fn secs(n: u64) -> DurationSpec {
    DurationSpec(Duration::from_secs(n))
}
fn default_leeway() -> DurationSpec {
    DurationSpec(portcullis_jose::DEFAULT_LEEWAY)
}
fn default_token_from() -> String {
    "bearer".to_owned()
}
fn default_max_token_size() -> ByteSize {
    ByteSize(portcullis_jose::DEFAULT_MAX_TOKEN_SIZE as u64)
}
fn default_realm() -> String {
    "portcullis".to_owned()
}
fn default_min_ttl() -> DurationSpec {
    secs(60)
}
fn default_max_ttl() -> DurationSpec {
    secs(24 * 3600)
}
fn default_ttl() -> DurationSpec {
    secs(600)
}
fn default_refresh_interval() -> DurationSpec {
    secs(30)
}
fn default_timeout() -> DurationSpec {
    secs(5)
}
fn default_max_size() -> ByteSize {
    ByteSize(256 * 1024)
}

impl PolicyConfig for VerifyJwtConfig {
    fn compile(self, ctx: &CompileCtx<'_>) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
        let mut errors = Vec::new();
        let mut err = |path: &str, message: String| errors.push(CompileError::at(path, message));
        if ctx.phase == Phase::Response {
            err(
                "",
                "verify-jwt guards requests; place it in a request list".into(),
            );
        }
        if self.issuer.is_empty() {
            err("issuer", "must not be empty".into());
        }
        if self.audiences.is_empty() {
            err("audiences", "at least one audience is required".into());
        }
        for (i, a) in self.audiences.iter().enumerate() {
            if a.is_empty() {
                err(&format!("audiences[{i}]"), "must not be empty".into());
            }
        }
        if self.algorithms.is_empty() {
            err("algorithms", "at least one algorithm is required".into());
        }
        if self.leeway.0 > MAX_LEEWAY {
            err("leeway", "must be at most 5m".into());
        }
        let hmac_secret = match &self.shared_secret_env {
            None => {
                for (i, a) in self.algorithms.iter().enumerate() {
                    if portcullis_jose::is_hmac(a.to_jose()) {
                        err(
                            &format!("algorithms[{i}]"),
                            format!(
                                "{a:?} needs shared_secret_env (a JWKS never supplies HMAC keys)"
                            ),
                        );
                    }
                }
                None
            }
            Some(var) => match std::env::var(var) {
                Ok(secret) if secret.len() >= MIN_SECRET_BYTES => Some(hmac_key(secret.as_bytes())),
                Ok(_) => {
                    err(
                        "shared_secret_env",
                        format!("${var} must hold at least {MIN_SECRET_BYTES} bytes"),
                    );
                    None
                }
                Err(_) => {
                    err(
                        "shared_secret_env",
                        format!("environment variable ${var} is not set"),
                    );
                    None
                }
            },
        };
        let token_from = TokenFrom::parse(&self.token_from)
            .map_err(|m| err("token_from", m))
            .ok();
        let mut claims_to_headers = Vec::new();
        for (claim, header) in &self.claims_to_headers {
            match HeaderName::from_bytes(header.as_bytes()) {
                Ok(name) => claims_to_headers.push((claim.clone(), name)),
                Err(_) => err(
                    &format!("claims_to_headers.{claim}"),
                    format!("invalid header name '{header}'"),
                ),
            }
        }
        if self.realm.is_empty()
            || self
                .realm
                .contains(|c: char| c == '"' || c == '\\' || !(' '..='~').contains(&c))
        {
            err(
                "realm",
                "must be printable ASCII without quotes or backslashes".into(),
            );
        }
        let max_token_size = usize::try_from(self.max_token_size.0).unwrap_or(usize::MAX);
        if !(256..=1 << 20).contains(&max_token_size) {
            err("max_token_size", "must be between 256B and 1MiB".into());
        }
        let keys = self.key_source(ctx, &mut err);
        if !errors.is_empty() {
            return Err(errors);
        }
        let (Some(keys), Some(token_from)) = (keys, token_from) else {
            return Err(vec![CompileError::at("", "invalid configuration")]);
        };
        let rules = Rules {
            algorithms: self.algorithms.iter().map(|a| a.to_jose()).collect(),
            issuer: Some(self.issuer),
            audiences: self.audiences,
            leeway: self.leeway.0,
            max_token_size,
            token_types: self.token_types,
            reject_nonce: self.reject_id_tokens,
            required_claims: self.required_claims,
            max_lifetime: self.max_lifetime.map(|d| d.0),
            hmac_secret,
        };
        Ok(Arc::new(VerifyJwt {
            verifier: Verifier::new(rules, keys),
            verified: VerifiedCache::new(DEFAULT_VERIFIED_ENTRIES),
            token_from,
            claims_to_headers,
            realm: self.realm,
            hide_credentials: self.hide_credentials,
        }))
    }
}

impl VerifyJwtConfig {
    fn key_source(
        &self,
        ctx: &CompileCtx<'_>,
        err: &mut impl FnMut(&str, String),
    ) -> Option<KeySource> {
        let given = [
            self.jwks_url.is_some(),
            self.jwks_file.is_some(),
            self.jwks.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            err(
                "",
                "exactly one of jwks_url, jwks_file and jwks is required".into(),
            );
            return None;
        }
        let fixed =
            |path: &str, bytes: Result<Vec<u8>, String>, err: &mut dyn FnMut(&str, String)| {
                let set = bytes.and_then(|b| KeySet::from_jwks_json(&b).map_err(|e| e.to_string()));
                match set {
                    Ok(set) if !set.is_empty() => Some(KeySource::Static(Arc::new(set))),
                    Ok(_) => {
                        err(path, "the JWKS holds no usable signing key".into());
                        None
                    }
                    Err(e) => {
                        err(path, e);
                        None
                    }
                }
            };
        if let Some(file) = &self.jwks_file {
            let path = ctx.base_dir.join(file);
            let bytes =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()));
            return fixed("jwks_file", bytes, err);
        }
        if let Some(inline) = &self.jwks {
            return fixed(
                "jwks",
                serde_json::to_vec(inline).map_err(|e| e.to_string()),
                err,
            );
        }
        let url = self.jwks_url.as_deref()?;
        if let Err(message) = check_url(url, self.allow_http) {
            err("jwks_url", message);
            return None;
        }
        let c = &self.jwks_cache;
        if c.min_ttl > c.max_ttl {
            err("jwks_cache.min_ttl", "must not exceed max_ttl".into());
        }
        if c.refresh_interval.0 < Duration::from_secs(1) {
            // Zero would let every sprayed kid hit the issuer.
            err("jwks_cache.refresh_interval", "must be at least 1s".into());
        }
        if c.timeout.0.is_zero() {
            err("jwks_cache.timeout", "must be positive".into());
        }
        let options = JwksOptions {
            min_ttl: c.min_ttl.0,
            max_ttl: c.max_ttl.0,
            default_ttl: c.default_ttl.0,
            refresh_interval: c.refresh_interval.0,
            timeout: c.timeout.0,
            max_bytes: usize::try_from(c.max_size.0).unwrap_or(usize::MAX),
        };
        match JwksCache::shared(url, options) {
            Ok(cache) => Some(KeySource::Remote(cache)),
            Err(e) => {
                err("jwks_url", e.to_string());
                None
            }
        }
    }
}

/// https anywhere; http only to loopback hosts unless allowed.
fn check_url(url: &str, allow_http: bool) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|_| format!("invalid URL '{url}'"))?;
    let host = uri.host().ok_or_else(|| format!("'{url}' has no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback =
                bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if loopback || allow_http {
                Ok(())
            } else {
                Err(format!("'{url}' must use https (or set allow_http)"))
            }
        }
        _ => Err(format!("'{url}' must be an https URL")),
    }
}
