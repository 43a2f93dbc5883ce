//! Token verification with the algorithms pinned per issuer.
//!
//! The header is parsed here, not by `jsonwebtoken`, so that nothing in it is trusted: `alg` must
//! be one of the pinned names (exact, case-sensitive: `none`, `None`, `NONE` are simply not in the
//! list), `crit` is honoured, `jku`/`x5u`/`jwk`/`x5c` are ignored (never fetched, never used as a
//! key), and the key is chosen by `kid` from the configured set, then checked to fit `alg`.
//! `jsonwebtoken` does the signature maths; the claims are checked here with their JSON types
//! (CVE-2026-25537: an `exp` of the wrong type must not count as absent).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use crate::error::VerifyError;
use crate::keys::{KeySet, MAX_KID_LEN};

/// Default clock skew tolerance.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Default maximum token length in bytes.
pub const DEFAULT_MAX_TOKEN_SIZE: usize = 8 * 1024;

/// What a token must satisfy besides its signature.
#[derive(Clone)]
pub struct Rules {
    /// The algorithms accepted for this issuer. Empty accepts nothing.
    pub algorithms: Vec<Algorithm>,
    /// Required `iss` (exact match), if set.
    pub issuer: Option<String>,
    /// Accepted audiences: `aud` is required and must contain one of them. Empty skips the
    /// audience check (only for callers that check it themselves).
    pub audiences: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// Longest accepted token, checked before any decoding.
    pub max_token_size: usize,
    /// Accepted header `typ` values (compared case-insensitively, `application/` prefix
    /// optional). `None` accepts any `typ`, including none.
    pub token_types: Option<Vec<String>>,
    /// Refuse tokens carrying a `nonce` claim: OpenID Connect ID tokens, which must never be
    /// accepted as access tokens.
    pub reject_nonce: bool,
    /// Claims that must be present (and not null).
    pub required_claims: Vec<String>,
    /// Refuse tokens whose `exp` lies further ahead than this.
    pub max_lifetime: Option<Duration>,
    /// Shared secret for HS256/384/512. HMAC algorithms are refused unless this is set, whatever
    /// `algorithms` says: a JWKS never supplies HMAC keys.
    pub hmac_secret: Option<DecodingKey>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            algorithms: Vec::new(),
            issuer: None,
            audiences: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            max_token_size: DEFAULT_MAX_TOKEN_SIZE,
            token_types: None,
            reject_nonce: false,
            required_claims: Vec::new(),
            max_lifetime: None,
            hmac_secret: None,
        }
    }
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules")
            .field("algorithms", &self.algorithms)
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("max_token_size", &self.max_token_size)
            .field("token_types", &self.token_types)
            .field("reject_nonce", &self.reject_nonce)
            .field("required_claims", &self.required_claims)
            .field("max_lifetime", &self.max_lifetime)
            .field(
                "hmac_secret",
                &self.hmac_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// A token whose structure and header passed, signature not yet checked.
#[derive(Debug)]
pub struct Parsed<'a> {
    header: Map<String, Value>,
    alg: Algorithm,
    kid: Option<String>,
    /// `base64(header) "." base64(claims)`: the signed bytes.
    message: &'a str,
    payload: &'a str,
    signature: &'a str,
}

impl Parsed<'_> {
    /// The pinned algorithm the header named.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }
    /// The header's `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    /// The protected header (for DPoP proofs, whose key travels in it).
    pub(crate) fn header(&self) -> &Map<String, Value> {
        &self.header
    }
    /// Checks the signature with `key` and decodes the claims, checking no claim: for callers
    /// with rules of their own (DPoP proofs have no `exp`).
    pub(crate) fn verified_claims(
        &self,
        key: &DecodingKey,
    ) -> Result<Map<String, Value>, VerifyError> {
        check_signature(self, key)?;
        decode_object(self.payload, "bad claims")
    }
}

/// A verified token.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Protected header.
    pub header: Map<String, Value>,
    /// Claims.
    pub claims: Map<String, Value>,
    /// Algorithm it was signed with.
    pub alg: Algorithm,
    /// Key id used.
    pub kid: Option<String>,
}

impl Verified {
    /// A string claim.
    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// `sub`.
    pub fn subject(&self) -> Option<&str> {
        self.str_claim("sub")
    }

    /// The OAuth client: `client_id` (RFC 9068), else `azp` (OpenID), else `cid` (Okta).
    pub fn client_id(&self) -> Option<&str> {
        ["client_id", "azp", "cid"]
            .iter()
            .find_map(|c| self.str_claim(c))
    }

    /// Scopes from `scope` (space-separated string, RFC 9068/8693) or `scp` (string or array).
    pub fn scopes(&self) -> Vec<String> {
        let from = |v: &Value| -> Vec<String> {
            match v {
                Value::String(s) => s.split_ascii_whitespace().map(str::to_owned).collect(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                _ => Vec::new(),
            }
        };
        self.claims
            .get("scope")
            .or_else(|| self.claims.get("scp"))
            .map(from)
            .unwrap_or_default()
    }
}

impl Rules {
    /// Checks size, structure and header (pinned `alg`, `crit`, `typ`) without any key.
    pub fn parse<'a>(&self, token: &'a str) -> Result<Parsed<'a>, VerifyError> {
        if token.len() > self.max_token_size {
            return Err(VerifyError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed("not a compact JWS"));
        };
        if !is_b64url(payload) || URL_SAFE_NO_PAD.decode(signature).is_err() {
            return Err(VerifyError::Malformed("bad base64url"));
        }
        let header = decode_object(header_b64, "bad header")?;
        let alg_name = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(VerifyError::Malformed("header lacks alg"))?;
        // Exact names only: `none` in any spelling and anything unpinned stop here, before any
        // key lookup (so a forged token never triggers a JWKS refresh).
        let alg = self
            .algorithms
            .iter()
            .copied()
            .find(|a| alg_name_of(*a) == alg_name)
            .ok_or(VerifyError::DisallowedAlgorithm)?;
        if is_hmac(alg) && self.hmac_secret.is_none() {
            return Err(VerifyError::DisallowedAlgorithm);
        }
        if header.contains_key("crit") {
            // We implement no JWS extension, so any critical one must be refused (RFC 7515
            // §4.1.11); a malformed `crit` is refused too.
            return Err(VerifyError::UnsupportedCrit);
        }
        if header
            .get("cty")
            .and_then(Value::as_str)
            .is_some_and(|c| c.eq_ignore_ascii_case("jwt"))
        {
            return Err(VerifyError::Malformed("nested JWT"));
        }
        if let Some(types) = &self.token_types {
            let typ = header.get("typ").and_then(Value::as_str).map(normalise_typ);
            if !typ.is_some_and(|t| types.iter().any(|a| normalise_typ(a) == t)) {
                return Err(VerifyError::WrongType);
            }
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(k)) if k.len() <= MAX_KID_LEN => Some(k.clone()),
            Some(_) => return Err(VerifyError::Malformed("bad kid")),
        };
        Ok(Parsed {
            header,
            alg,
            kid,
            message: &token[..header_b64.len() + 1 + payload.len()],
            payload,
            signature,
        })
    }

    /// Verifies a parsed token with a key from `keys` (or the HMAC secret), then its claims at
    /// `now`.
    pub fn finish(
        &self,
        parsed: Parsed<'_>,
        keys: &KeySet,
        now: SystemTime,
    ) -> Result<Verified, VerifyError> {
        let key = if is_hmac(parsed.alg) {
            self.hmac_secret
                .as_ref()
                .ok_or(VerifyError::DisallowedAlgorithm)?
        } else {
            keys.find(parsed.kid(), parsed.alg)?.decoding_key()
        };
        check_signature(&parsed, key)?;
        let claims = decode_object(parsed.payload, "bad claims")?;
        self.check_claims(&claims, now)?;
        Ok(Verified {
            header: parsed.header,
            claims,
            alg: parsed.alg,
            kid: parsed.kid,
        })
    }

    /// Parse and verify in one step against a fixed key set.
    pub fn verify(
        &self,
        token: &str,
        keys: &KeySet,
        now: SystemTime,
    ) -> Result<Verified, VerifyError> {
        let parsed = self.parse(token)?;
        self.finish(parsed, keys, now)
    }

    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        Times::of(claims)?.check(now, self.leeway, self.max_lifetime)?;
        if let Some(issuer) = &self.issuer {
            match claims.get("iss") {
                None => return Err(VerifyError::MissingClaim("iss".into())),
                Some(Value::String(iss)) if iss == issuer => {}
                Some(Value::String(_)) => return Err(VerifyError::WrongIssuer),
                Some(_) => return Err(VerifyError::InvalidClaim("iss")),
            }
        }
        if !self.audiences.is_empty() {
            let accepted = |a: &str| self.audiences.iter().any(|x| x == a);
            let ok = match claims.get("aud") {
                None => return Err(VerifyError::MissingClaim("aud".into())),
                Some(Value::String(a)) => accepted(a),
                Some(Value::Array(list)) => {
                    let mut ok = false;
                    for a in list {
                        let a = a.as_str().ok_or(VerifyError::InvalidClaim("aud"))?;
                        ok |= accepted(a);
                    }
                    ok
                }
                Some(_) => return Err(VerifyError::InvalidClaim("aud")),
            };
            if !ok {
                return Err(VerifyError::WrongAudience);
            }
        }
        if claims.get("sub").is_some_and(|s| !s.is_string()) {
            return Err(VerifyError::InvalidClaim("sub"));
        }
        if self.reject_nonce && claims.contains_key("nonce") {
            return Err(VerifyError::IdToken);
        }
        for name in &self.required_claims {
            if claims.get(name).is_none_or(Value::is_null) {
                return Err(VerifyError::MissingClaim(name.clone()));
            }
        }
        Ok(())
    }
}

/// The time claims of a token (`exp` required), with their JSON types checked, so they can be
/// checked again later without the claims (see [`crate::VerifiedCache`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Times {
    exp: f64,
    nbf: Option<f64>,
    iat: Option<f64>,
}

impl Times {
    pub(crate) fn of(claims: &Map<String, Value>) -> Result<Self, VerifyError> {
        let exp =
            numeric_date(claims, "exp")?.ok_or_else(|| VerifyError::MissingClaim("exp".into()))?;
        Ok(Self {
            exp,
            nbf: numeric_date(claims, "nbf")?,
            iat: numeric_date(claims, "iat")?,
        })
    }

    /// `exp` passed, `nbf`/`iat` ahead, or `exp` too far ahead, at `now` with `leeway`.
    pub(crate) fn check(
        &self,
        now: SystemTime,
        leeway: Duration,
        max_lifetime: Option<Duration>,
    ) -> Result<(), VerifyError> {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let leeway = leeway.as_secs_f64();
        if now >= self.exp + leeway {
            return Err(VerifyError::Expired);
        }
        if self.nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err(VerifyError::NotYetValid);
        }
        if self.iat.is_some_and(|iat| iat > now + leeway) {
            return Err(VerifyError::NotYetValid);
        }
        if let Some(max) = max_lifetime
            && self.exp - now > max.as_secs_f64() + leeway
        {
            return Err(VerifyError::LifetimeTooLong);
        }
        Ok(())
    }
}

/// The registered name of an algorithm (`RS256`, `EdDSA`, ...).
pub fn alg_name_of(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        // `Algorithm` is non-exhaustive: a future variant is unknown to us and never matches.
        _ => "",
    }
}

/// True for the HMAC (shared-secret) algorithms.
pub fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn check_signature(parsed: &Parsed<'_>, key: &DecodingKey) -> Result<(), VerifyError> {
    match jsonwebtoken::crypto::verify(parsed.signature, parsed.message.as_bytes(), key, parsed.alg)
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(VerifyError::BadSignature),
        // The key cannot be used with this algorithm (should have been caught by `accepts`).
        Err(_) => Err(VerifyError::KeyMismatch),
    }
}

/// `typ` is a media type: case-insensitive, `application/` may be omitted (RFC 7515 §4.1.9).
fn normalise_typ(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    match lower.strip_prefix("application/") {
        Some(rest) => rest.to_owned(),
        None => lower,
    }
}

/// Cheap alphabet check for the payload (it is decoded only after the signature verifies).
fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn decode_object(part: &str, what: &'static str) -> Result<Map<String, Value>, VerifyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| VerifyError::Malformed(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(VerifyError::Malformed(what)),
    }
}

/// A NumericDate claim: absent is `None`; present must be a finite JSON number.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<f64>, VerifyError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or(VerifyError::InvalidClaim(name)),
        Some(_) => Err(VerifyError::InvalidClaim(name)),
    }
}
