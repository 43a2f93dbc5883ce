//! JWT/JWS/JWK building blocks for Portcullis, shared by `verify-jwt`, the OAuth token policies
//! and the authorization server.
//!
//! - [`Rules`] / [`Verifier`]: verification with the algorithms pinned per issuer (never trusting
//!   `alg` alone), required `exp`, optional `nbf`/`iat`, `iss`, `aud`, leeway, `crit`, `typ`, a
//!   size limit, and claim types checked (CVE-2026-25537). `jku`/`x5u`/`jwk`/`x5c` headers are
//!   ignored: keys come only from the configured source.
//! - [`KeySet`]: public keys from a JWKS, by `kid`, each bound to the algorithms it may verify.
//! - [`JwksCache`]: a remote JWKS with `max-age` caching and rate-limited refresh on unknown kid.
//! - [`Signer`]: signing with a kid (RS*, PS*, ES256/384, EdDSA), key generation, JWKS publication.
//! - [`DpopVerifier`]: DPoP proofs (RFC 9449) for the token endpoint and the gateway, with the
//!   RFC 7638 key thumbprint and a per-node [`ReplayCache`].
//! - [`VerifiedCache`]: verified tokens by SHA-256, so a busy token costs one signature check
//!   (time claims and key presence are checked again on every hit).
//! - [`VerifyError`]: one variant per reason, so policies map them to stable codes.
//!
//! Crypto is jsonwebtoken 11 on aws-lc-rs, the same provider as rustls.

mod cache;
pub mod dpop;
mod error;
mod jwks;
mod keys;
mod sign;
mod verifier;
mod verify;

pub use cache::{DEFAULT_VERIFIED_ENTRIES, TokenHash, VerifiedCache, token_hash};
pub use dpop::{DpopError, DpopProof, DpopVerifier, ProofRequest, ReplayCache};
pub use error::{KeyError, VerifyError};
pub use jsonwebtoken::Algorithm;
pub use jsonwebtoken::jwk::{Jwk, JwkSet};
pub use jwks::{JwksCache, JwksOptions, parse_max_age};
pub use keys::{KeyKind, KeySet, MAX_KEYS, MAX_KID_LEN, VerifyKey};
pub use sign::{SIGNING_ALGORITHMS, Signer, generate_pkcs8, jwk_set, key_set};
pub use verifier::{KeySource, Verifier};
pub use verify::{
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_SIZE, Parsed, Rules, Verified, alg_name_of, is_hmac,
};

/// An HMAC verification key from a shared secret (for [`Rules::hmac_secret`]).
pub fn hmac_key(secret: &[u8]) -> jsonwebtoken::DecodingKey {
    jsonwebtoken::DecodingKey::from_secret(secret)
}

#[cfg(test)]
mod tests;
