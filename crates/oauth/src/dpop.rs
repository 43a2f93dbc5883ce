//! DPoP at the token endpoint (RFC 9449 §5): a `DPoP` header with a valid proof for
//! `POST <issuer>/oauth2/token` binds the issued access (and refresh) tokens to the proof key —
//! `token_type: DPoP`, the key's thumbprint stored as `cnf_jkt` and, in JWT access tokens,
//! `cnf: {"jkt": …}`.
//!
//! Refresh tokens of a bound family can only be used with a proof by the same key, for every
//! client (RFC 9449 §5 requires it for public clients; applying it to confidential clients too
//! means a stolen refresh token and client secret are still not enough). `DPoP-Nonce` is not
//! supported. Proofs are checked with the shared verifier of `portcullis_jose`, and only after
//! client authentication, so unauthenticated callers never fill the replay cache.

use std::time::SystemTime;

use http::HeaderMap;
use portcullis_jose::{DpopError, DpopProof, DpopVerifier, ProofRequest};

use crate::error::OAuthError;
use crate::settings::Settings;

/// The request header carrying a proof.
pub(crate) const DPOP_HEADER: &str = "dpop";

/// The checked and recorded proof of a token request, if it had a `DPoP` header.
pub(crate) fn token_request_proof(
    verifier: &DpopVerifier,
    settings: &Settings,
    headers: &HeaderMap,
) -> Result<Option<DpopProof>, OAuthError> {
    let mut values = headers.get_all(DPOP_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(OAuthError::invalid_dpop_proof(
            "exactly one DPoP header is allowed",
        ));
    }
    let proof = value
        .to_str()
        .map_err(|_| OAuthError::invalid_dpop_proof("malformed DPoP proof"))?;
    let uri = settings.endpoint("/oauth2/token");
    let req = ProofRequest {
        method: "POST",
        uri: &uri,
        access_token: None,
    };
    let checked = verifier
        .verify(proof, &req, SystemTime::now())
        .map_err(|e| OAuthError::invalid_dpop_proof(describe(&e)))?;
    Ok(Some(checked))
}

/// A refresh of a bound family needs a proof by the bound key.
pub(crate) fn check_refresh_binding(
    bound: Option<&str>,
    proof: Option<&DpopProof>,
) -> Result<(), OAuthError> {
    match (bound, proof) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(OAuthError::invalid_dpop_proof(
            "the refresh token is DPoP-bound: a DPoP proof is required",
        )),
        (Some(jkt), Some(p)) if p.jkt == jkt => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_dpop_proof(
            "the refresh token is bound to another DPoP key",
        )),
    }
}

/// A fixed, client-safe description per refusal reason.
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
        DpopError::WrongMethod => "DPoP proof htm must be POST",
        DpopError::WrongUri => "DPoP proof htu must be the token endpoint",
        DpopError::Stale | DpopError::Future => "DPoP proof iat outside the accepted window",
        DpopError::WrongAth => "DPoP proof ath invalid",
        DpopError::Replayed => "DPoP proof replayed",
        DpopError::ReplayCacheFull => "DPoP proofs cannot be accepted right now",
        DpopError::KeyMismatch => "DPoP proof key does not match the binding",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof(jkt: &str) -> DpopProof {
        DpopProof {
            jkt: jkt.into(),
            jti: "j".into(),
            iat: 0,
        }
    }

    #[test]
    fn a_bound_refresh_token_needs_a_proof_by_the_same_key() {
        assert!(check_refresh_binding(None, None).is_ok());
        assert!(check_refresh_binding(None, Some(&proof("a"))).is_ok());
        assert!(check_refresh_binding(Some("a"), Some(&proof("a"))).is_ok());
        for p in [None, Some(proof("b"))] {
            let err = check_refresh_binding(Some("a"), p.as_ref()).unwrap_err();
            assert_eq!(err.code, "invalid_dpop_proof");
            assert_eq!(err.status, http::StatusCode::BAD_REQUEST);
        }
    }
}
