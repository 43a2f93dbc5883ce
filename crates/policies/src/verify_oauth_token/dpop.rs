//! DPoP (RFC 9449) in `verify-oauth-token`: `Authorization: DPoP <token>` with a `DPoP: <proof>`
//! header, checked with the verifier the authorization server uses (`portcullis_jose::dpop`).
//!
//! - The proof must match this request: `htm` = method, `htu` = listener scheme + `Host` +
//!   normalised path (or `public_uri_base` + path behind another proxy), `ath` = hash of the
//!   presented token, `iat` within `max_age`, unseen `jti` (replay cache per node).
//! - Its key's thumbprint must equal the token's `cnf.jkt` (local store, JWT claim, or an
//!   external introspection answer alike).
//! - A bound token presented as `Bearer` is refused (downgrade); a `DPoP`-scheme token that is
//!   not bound is refused too (nothing to prove). With `required: true` Bearer tokens are
//!   refused altogether.
//!
//! Proof failures are 401 `dpop.invalid_proof` with `WWW-Authenticate: DPoP
//! error="invalid_dpop_proof", algs="…"` (RFC 9449 §7.1); Bearer-scheme failures keep the
//! Bearer challenge of the policy.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderValue, header};
use portcullis_core::{DurationSpec, GatewayError};
use portcullis_jose::dpop::{DEFAULT_DPOP_MAX_AGE, DPOP_ALGORITHMS, normalise_htu};
use portcullis_jose::{DpopError, DpopVerifier, ProofRequest, alg_name_of};
use portcullis_oauth::TokenInfo;
use portcullis_policy::Exchange;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::registry::CompileError;

/// Longest accepted `max_age`.
const MAX_MAX_AGE: Duration = Duration::from_secs(300);

/// DPoP settings of `verify-oauth-token`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct DpopConfig {
    /// Refuse `Bearer` tokens: every request needs a DPoP-bound token and a proof. When false
    /// (default), DPoP is optional, but a DPoP-bound token always needs its proof.
    #[serde(default)]
    pub required: bool,
    /// Window for the proof's `iat`, both ways (age and clock skew); at most 5m. Also how long
    /// a proof's `jti` is remembered against replay.
    #[serde(default = "default_max_age")]
    pub max_age: DurationSpec,
    /// The URL base clients use to reach this gateway (`https://api.example.com`, optionally
    /// with a path prefix), when another proxy in front changes scheme, host or port. The
    /// proof's `htu` must then equal this base + the request path. Without it `htu` is built
    /// from the listener's scheme and the request's `Host`.
    #[serde(default)]
    pub public_uri_base: Option<String>,
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self {
            required: false,
            max_age: default_max_age(),
            public_uri_base: None,
        }
    }
}

fn default_max_age() -> DurationSpec {
    DurationSpec(DEFAULT_DPOP_MAX_AGE)
}

/// How the presented token was labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    Dpop,
}

/// The compiled DPoP rules.
pub(crate) struct Dpop {
    pub(crate) required: bool,
    verifier: DpopVerifier,
    public_base: Option<String>,
    challenge_algs: String,
}

/// Marks a proof already recorded for this exchange, so a second `verify-oauth-token` in the
/// same pipeline does not take it for a replay.
#[derive(Debug, Clone)]
struct Recorded(Arc<str>);

impl Dpop {
    pub(crate) fn compile(c: &DpopConfig) -> Result<Self, Vec<CompileError>> {
        if c.max_age.0 > MAX_MAX_AGE || c.max_age.0.is_zero() {
            return Err(vec![CompileError::at(
                "dpop.max_age",
                "must be between 1s and 5m",
            )]);
        }
        let public_base = match &c.public_uri_base {
            None => None,
            Some(base) => Some(public_base(base).ok_or_else(|| {
                vec![CompileError::at(
                    "dpop.public_uri_base",
                    format!(
                        "'{base}' must be an absolute http(s) URL without userinfo, query or \
                         fragment"
                    ),
                )]
            })?),
        };
        Ok(Self {
            required: c.required,
            verifier: DpopVerifier::shared(c.max_age.0),
            public_base,
            challenge_algs: DPOP_ALGORITHMS
                .iter()
                .map(|a| alg_name_of(*a))
                .collect::<Vec<_>>()
                .join(" "),
        })
    }

    /// The `DPoP` challenge, with an error when there is one.
    pub(crate) fn challenge(&self, realm: &str, error: Option<(&str, &str)>) -> HeaderValue {
        let text = match error {
            None => format!("DPoP realm=\"{realm}\", algs=\"{}\"", self.challenge_algs),
            Some((code, desc)) => format!(
                "DPoP realm=\"{realm}\", error=\"{code}\", error_description=\"{desc}\", algs=\"{}\"",
                self.challenge_algs
            ),
        };
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("DPoP"))
    }

    fn refuse(&self, realm: &str, reason: &'static str, desc: &'static str) -> GatewayError {
        GatewayError::dpop_invalid_proof()
            .with_detail(desc)
            .with_extra("reason", reason.into())
            .with_header(
                header::WWW_AUTHENTICATE,
                self.challenge(realm, Some(("invalid_dpop_proof", desc))),
            )
    }

    /// Checks the proof of a `DPoP`-scheme request against the resolved token.
    pub(crate) fn check(
        &self,
        ex: &mut Exchange,
        realm: &str,
        token: &str,
        info: &TokenInfo,
    ) -> Result<(), GatewayError> {
        let Some(jkt) = info.cnf_jkt.as_deref() else {
            return Err(self.refuse(
                realm,
                "unbound_token",
                "the token is not DPoP-bound; use the Bearer scheme",
            ));
        };
        let mut values = ex.request.headers.get_all("dpop").iter();
        let proof = match (values.next(), values.next()) {
            (Some(v), None) => v
                .to_str()
                .map_err(|_| self.refuse(realm, "malformed", "malformed DPoP proof"))?,
            (None, _) => {
                return Err(self.refuse(realm, "missing", "a DPoP proof is required"));
            }
            (Some(_), Some(_)) => {
                return Err(self.refuse(realm, "malformed", "exactly one DPoP header is allowed"));
            }
        };
        let htu = self
            .htu(ex)
            .ok_or_else(|| self.refuse(realm, "wrong_htu", "the request URI is unknown"))?;
        let req = ProofRequest {
            method: ex.request.method.as_str(),
            uri: &htu,
            access_token: Some(token),
        };
        let now = SystemTime::now();
        let checked = self
            .verifier
            .check(proof, &req, now)
            .map_err(|e| self.refuse(realm, e.kind(), describe(&e)))?;
        if checked.jkt != jkt {
            let e = DpopError::KeyMismatch;
            return Err(self.refuse(realm, e.kind(), describe(&e)));
        }
        let already = ex
            .request
            .extensions
            .get::<Recorded>()
            .is_some_and(|r| &*r.0 == proof);
        if !already {
            self.verifier
                .record(&checked, now)
                .map_err(|e| self.refuse(realm, e.kind(), describe(&e)))?;
            let proof: Arc<str> = proof.into();
            ex.request.extensions.insert(Recorded(proof));
        }
        Ok(())
    }

    /// The URI the client addressed, as `htu` must name it.
    fn htu(&self, ex: &Exchange) -> Option<String> {
        let path = &ex.ctx.path;
        if let Some(base) = &self.public_base {
            return Some(format!("{base}{path}"));
        }
        let origin = ex.ctx.origin.as_ref();
        let host = origin
            .and_then(|o| o.host.as_ref())
            .or_else(|| ex.request.headers.get(header::HOST))?
            .to_str()
            .ok()?;
        // Without the proxy's origin (never in production) assume TLS: a wrong guess refuses.
        let scheme = if origin.is_none_or(|o| o.https) {
            "https"
        } else {
            "http"
        };
        Some(format!("{scheme}://{host}{path}"))
    }
}

/// The normalised base without a trailing slash, if it is acceptable.
fn public_base(base: &str) -> Option<String> {
    if base.contains(['?', '#']) {
        return None;
    }
    let normalised = normalise_htu(base)?;
    Some(normalised.trim_end_matches('/').to_owned())
}

/// Fixed, client-safe descriptions (no claim values).
fn describe(e: &DpopError) -> &'static str {
    match e {
        DpopError::TooLarge => "DPoP proof too large",
        DpopError::Malformed(_) => "malformed DPoP proof",
        DpopError::WrongType => "DPoP proof typ must be dpop+jwt",
        DpopError::DisallowedAlgorithm => "DPoP proof algorithm not allowed",
        DpopError::BadKey(_) => "DPoP proof jwk is not a usable public key",
        DpopError::PrivateKey => "DPoP proof jwk contains a private key",
        DpopError::BadSignature => "DPoP proof signature invalid",
        DpopError::InvalidClaim(_) => "DPoP proof lacks jti, htm, htu or iat",
        DpopError::WrongMethod => "DPoP proof htm does not match the request method",
        DpopError::WrongUri => "DPoP proof htu does not match the request URI",
        DpopError::Stale | DpopError::Future => "DPoP proof iat outside the accepted window",
        DpopError::WrongAth => "DPoP proof ath does not match the access token",
        DpopError::Replayed => "DPoP proof replayed",
        DpopError::ReplayCacheFull => "DPoP proofs cannot be accepted right now",
        DpopError::KeyMismatch => "DPoP proof key does not match the token binding",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_uri_base_is_normalised_and_checked() {
        assert_eq!(
            public_base("HTTPS://API.example.com:443/").as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(
            public_base("https://example.com/gw/").as_deref(),
            Some("https://example.com/gw")
        );
        for bad in [
            "api.example.com",
            "ftp://x.example",
            "https://u:p@x.example",
            "https://x.example/?a=1",
            "https://x.example/#f",
        ] {
            assert!(public_base(bad).is_none(), "{bad}");
        }
    }
}
