//! Verification keys: a JWKS parsed into keys indexed by `kid`, each knowing which algorithms it
//! may verify, so a token can never pick a key of another family or curve.
//!
//! Parsing is lenient per key (an issuer publishing one key we cannot use must not break the
//! others) and strict about what a key is allowed to do: symmetric (`oct`) keys and keys marked
//! for encryption are dropped, so a JWKS can never turn a public key into an HMAC secret.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::error::{KeyError, VerifyError};

/// Most keys kept from one JWKS; the rest are ignored (a JWKS is small; this bounds memory and
/// parsing work if an endpoint misbehaves).
pub const MAX_KEYS: usize = 64;
/// Longest `kid` looked up; longer ones are refused as malformed without any lookup.
pub const MAX_KID_LEN: usize = 256;

/// What kind of public key this is; decides which algorithms it may verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA: RS256/384/512 and PS256/384/512.
    Rsa,
    /// EC P-256: ES256 only.
    P256,
    /// EC P-384: ES384 only.
    P384,
    /// Ed25519: EdDSA only.
    Ed25519,
}

impl KeyKind {
    fn fits(self, alg: Algorithm) -> bool {
        matches!(
            (self, alg),
            (
                Self::Rsa,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) | (Self::P256, Algorithm::ES256)
                | (Self::P384, Algorithm::ES384)
                | (Self::Ed25519, Algorithm::EdDSA)
        )
    }
}

/// One public key usable for verification.
#[derive(Clone)]
pub struct VerifyKey {
    kid: Option<String>,
    kind: KeyKind,
    /// The JWK's own `alg`, if it names one: then only that algorithm may use the key (so a key
    /// published for RS256 cannot verify a PS256 token, and vice versa).
    alg: Option<Algorithm>,
    key: DecodingKey,
    /// SHA-256 of the JWK's public parameters (and `alg`): tells a reused kid from the key
    /// it named before ([`crate::VerifiedCache`]).
    fingerprint: [u8; 32],
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyKey {
    /// Builds a key from one JWK; `Err` says why it is not usable for verification.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let common = &jwk.common;
        if let Some(usage) = &common.public_key_use
            && *usage != PublicKeyUse::Signature
        {
            return Err(KeyError::Invalid("key is not for signatures".into()));
        }
        if let Some(ops) = &common.key_operations
            && !ops.contains(&KeyOperations::Verify)
        {
            return Err(KeyError::Invalid("key_ops lacks 'verify'".into()));
        }
        let alg = match common.key_algorithm {
            None => None,
            Some(a) => Some(
                a.to_string()
                    .parse::<Algorithm>()
                    .map_err(|_| KeyError::Invalid(format!("unusable key alg {a}")))?,
            ),
        };
        let kind = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => KeyKind::Rsa,
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => KeyKind::P256,
                EllipticCurve::P384 => KeyKind::P384,
                _ => return Err(KeyError::Invalid("unsupported EC curve".into())),
            },
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                KeyKind::Ed25519
            }
            AlgorithmParameters::OctetKey(_) => {
                return Err(KeyError::Invalid(
                    "symmetric keys are never taken from a JWKS".into(),
                ));
            }
            _ => return Err(KeyError::Invalid("unsupported key type".into())),
        };
        if let Some(a) = alg
            && !kind.fits(a)
        {
            return Err(KeyError::Invalid(format!(
                "key alg {a:?} does not fit the key type"
            )));
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyError::Invalid(e.to_string()))?;
        let params = serde_json::to_vec(&(&jwk.algorithm, alg.map(crate::alg_name_of)))
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &params);
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(digest.as_ref());
        Ok(Self {
            kid: common.key_id.clone(),
            kind,
            alg,
            key,
            fingerprint,
        })
    }

    /// The key id.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key kind.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// True if this key may verify a token signed with `alg`.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.kind.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }

    /// SHA-256 of the public key parameters and `alg`.
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

/// Public keys by `kid` (several keys may share a kid if their types differ).
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    by_kid: HashMap<String, Vec<Arc<VerifyKey>>>,
    all: Vec<Arc<VerifyKey>>,
    skipped: usize,
}

impl KeySet {
    /// An empty set.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses a JWKS document (`{"keys": [...]}`), keeping every usable key and skipping the
    /// others (counted in [`KeySet::skipped`]). Fails only if the document itself is not a JWKS.
    pub fn from_jwks_json(bytes: &[u8]) -> Result<Self, KeyError> {
        #[derive(serde::Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Value>,
        }
        let doc: Doc =
            serde_json::from_slice(bytes).map_err(|e| KeyError::InvalidJwks(e.to_string()))?;
        let mut set = Self::default();
        for value in doc.keys {
            match serde_json::from_value::<Jwk>(value) {
                Ok(jwk) => set.insert_jwk(&jwk),
                Err(_) => set.skipped += 1,
            }
        }
        Ok(set)
    }

    /// Builds from already parsed JWKs (e.g. our own published set).
    pub fn from_jwk_set(jwks: &JwkSet) -> Self {
        let mut set = Self::default();
        for jwk in &jwks.keys {
            set.insert_jwk(jwk);
        }
        set
    }

    fn insert_jwk(&mut self, jwk: &Jwk) {
        if self.all.len() >= MAX_KEYS {
            self.skipped += 1;
            return;
        }
        match VerifyKey::from_jwk(jwk) {
            Ok(key) => self.insert(key),
            Err(e) => {
                tracing::debug!(kid = ?jwk.common.key_id, error = %e, "JWKS key skipped");
                self.skipped += 1;
            }
        }
    }

    /// Adds a key.
    pub fn insert(&mut self, key: VerifyKey) {
        let key = Arc::new(key);
        if let Some(kid) = &key.kid {
            self.by_kid
                .entry(kid.clone())
                .or_default()
                .push(key.clone());
        }
        self.all.push(key);
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// True if no key is usable.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Keys in the document that were not usable.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// True if some key carries this kid (whatever its type).
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// The key for a token with `kid` and `alg`. With a kid, only keys carrying exactly that kid
    /// are candidates; without one, the set must hold exactly one key fitting `alg` (trying
    /// several keys per token would multiply the cost of forged tokens).
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<&VerifyKey, VerifyError> {
        match kid {
            Some(kid) => {
                let candidates = self.by_kid.get(kid).ok_or(VerifyError::UnknownKid)?;
                candidates
                    .iter()
                    .find(|k| k.accepts(alg))
                    .map(|k| &**k)
                    .ok_or(VerifyError::KeyMismatch)
            }
            None => {
                let mut fitting = self.all.iter().filter(|k| k.accepts(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(key),
                    _ => Err(VerifyError::UnknownKid),
                }
            }
        }
    }
}
