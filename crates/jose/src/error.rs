//! Why a token was refused, as distinct kinds so callers can map each to a stable code.

/// A token verification failure. The `Display` text is safe to show to the client: it never
/// contains the token, claim values or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Longer than the configured maximum; refused before any parsing.
    #[error("token too large")]
    TooLarge,
    /// Not a compact JWS (three base64url parts, JSON header and claims objects).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header's `alg` is not one of the algorithms pinned for this issuer (includes `none`
    /// in any spelling, and HMAC without a configured shared secret).
    #[error("algorithm not allowed")]
    DisallowedAlgorithm,
    /// The header lists a critical extension this verifier does not implement.
    #[error("unsupported critical header")]
    UnsupportedCrit,
    /// The header's `typ` is not an accepted token type.
    #[error("token type not accepted")]
    WrongType,
    /// No key with the token's `kid` (after at most one rate-limited refresh), or no `kid` and
    /// more than one candidate key.
    #[error("unknown signing key")]
    UnknownKid,
    /// The key for the `kid` cannot verify this algorithm (RS↔PS/EC/OKP mismatch, wrong curve).
    #[error("key does not match the token algorithm")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
    /// `exp` (plus leeway) has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` (minus leeway) lies in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `exp` lies further in the future than the configured maximum lifetime.
    #[error("token lifetime too long")]
    LifetimeTooLong,
    /// A required claim is absent.
    #[error("missing claim '{0}'")]
    MissingClaim(String),
    /// A claim has the wrong JSON type (e.g. `exp` as a string: CVE-2026-25537).
    #[error("invalid claim '{0}'")]
    InvalidClaim(&'static str),
    /// `iss` differs from the pinned issuer.
    #[error("issuer not accepted")]
    WrongIssuer,
    /// No `aud` value is one of the accepted audiences.
    #[error("audience not accepted")]
    WrongAudience,
    /// The token looks like an OpenID Connect ID token (carries `nonce`), not an access token.
    #[error("ID token used as access token")]
    IdToken,
    /// No key set could be obtained (JWKS unreachable and nothing cached yet).
    #[error("signing keys unavailable")]
    KeysUnavailable,
}

impl VerifyError {
    /// A short stable name of the kind, for logs, metrics and error mapping.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed(_) => "malformed",
            Self::DisallowedAlgorithm => "disallowed_algorithm",
            Self::UnsupportedCrit => "unsupported_crit",
            Self::WrongType => "wrong_type",
            Self::UnknownKid => "unknown_kid",
            Self::KeyMismatch => "key_mismatch",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::LifetimeTooLong => "lifetime_too_long",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::IdToken => "id_token",
            Self::KeysUnavailable => "keys_unavailable",
        }
    }
}

/// Errors loading keys or signing.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key material could not be parsed or does not fit the algorithm.
    #[error("invalid key: {0}")]
    Invalid(String),
    /// The algorithm cannot be used here (e.g. HMAC for a published key).
    #[error("unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(jsonwebtoken::Algorithm),
    /// A JWKS document could not be parsed.
    #[error("invalid JWKS: {0}")]
    InvalidJwks(String),
    /// Fetching a JWKS failed.
    #[error("JWKS fetch failed: {0}")]
    Fetch(String),
    /// Signing failed (backend error).
    #[error("signing failed: {0}")]
    Sign(String),
}
