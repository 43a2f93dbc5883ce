//! DPoP proofs (RFC 9449): one verifier for the authorization server's token endpoint and the
//! gateway's `verify-oauth-token`, so both apply exactly the same rules.
//!
//! A proof is a compact JWS with `typ: dpop+jwt`, an asymmetric `alg` from
//! [`DPOP_ALGORITHMS`] (never `none` or HMAC), and the **public** key that signed it in the `jwk`
//! header (a proof carrying private key members is refused: the client leaked its key). Its
//! claims bind it to one request: `htm` (method), `htu` (URI without query and fragment,
//! compared after RFC 3986 normalisation of scheme and host case, default port and dot
//! segments), `iat` (within `max_age` either way), a unique `jti`, and at a resource server
//! `ath` = base64url(SHA-256(access token)).
//!
//! The result is the RFC 7638 SHA-256 thumbprint of the key (`jkt`), which a bound token
//! carries in `cnf.jkt`.
//!
//! **Replay**: [`ReplayCache`] remembers each (key, `jti`) until the proof could no longer pass
//! the `iat` check. It is in memory and **per node**: a proof replayed to another node within
//! `max_age` is not detected there. It is bounded; when full of live entries new proofs are
//! refused ([`DpopError::ReplayCacheFull`]) rather than forgetting a live `jti`, which would
//! reopen replay. Callers check the token (or the client) *before* recording, so only holders
//! of a valid token can fill it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::Jwk;
use parking_lot::Mutex;
use serde_json::{Map, Value};

use crate::error::VerifyError;
use crate::keys::VerifyKey;
use crate::verify::Rules;

/// Algorithms a proof may use: asymmetric only (RFC 9449 §4.2).
pub const DPOP_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];
/// Default window for `iat`, both ways (past: proof age; future: clock skew).
pub const DEFAULT_DPOP_MAX_AGE: Duration = Duration::from_secs(60);
/// Longest accepted proof, checked before any decoding (an RSA-4096 proof is about 2.5 KB).
pub const MAX_PROOF_SIZE: usize = 8 * 1024;
/// Default bound of the replay cache (entries per node).
pub const DEFAULT_REPLAY_ENTRIES: usize = 100_000;
/// Longest accepted `jti`.
const MAX_JTI_LEN: usize = 256;
/// JWK members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/// Replay cache shards (independent locks).
const SHARDS: usize = 16;

/// Why a proof was refused. `Display` is client-safe (no claim values, no key material).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// Longer than [`MAX_PROOF_SIZE`].
    #[error("DPoP proof too large")]
    TooLarge,
    /// Not a compact JWS with JSON header and claims, or a malformed member.
    #[error("malformed DPoP proof: {0}")]
    Malformed(&'static str),
    /// `typ` is not `dpop+jwt`.
    #[error("DPoP proof typ must be dpop+jwt")]
    WrongType,
    /// `alg` is not one of [`DPOP_ALGORITHMS`].
    #[error("DPoP proof algorithm not allowed")]
    DisallowedAlgorithm,
    /// The `jwk` header is missing, not a usable public key, or does not fit `alg`.
    #[error("DPoP proof key unusable: {0}")]
    BadKey(&'static str),
    /// The `jwk` header holds private key members.
    #[error("DPoP proof jwk contains a private key")]
    PrivateKey,
    /// The signature does not verify with the `jwk` key.
    #[error("DPoP proof signature invalid")]
    BadSignature,
    /// A required claim is absent or of the wrong type.
    #[error("DPoP proof claim '{0}' missing or invalid")]
    InvalidClaim(&'static str),
    /// `htm` differs from the request method.
    #[error("DPoP proof htm does not match the request method")]
    WrongMethod,
    /// `htu` differs from the request URI.
    #[error("DPoP proof htu does not match the request URI")]
    WrongUri,
    /// `iat` is older than the window.
    #[error("DPoP proof too old")]
    Stale,
    /// `iat` lies further in the future than the window.
    #[error("DPoP proof issued in the future")]
    Future,
    /// `ath` is missing or is not the hash of the presented access token.
    #[error("DPoP proof ath does not match the access token")]
    WrongAth,
    /// The (key, `jti`) pair was already used within the window.
    #[error("DPoP proof replayed")]
    Replayed,
    /// The replay cache is full of live entries; the proof cannot be recorded.
    #[error("DPoP replay cache full")]
    ReplayCacheFull,
    /// The proof is valid but its key is not the one the token (or token family) is bound to.
    #[error("DPoP proof key does not match the token binding")]
    KeyMismatch,
}

impl DpopError {
    /// Short stable name, for logs, metrics and problem `reason`s.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed(_) => "malformed",
            Self::WrongType => "wrong_type",
            Self::DisallowedAlgorithm => "disallowed_algorithm",
            Self::BadKey(_) => "bad_key",
            Self::PrivateKey => "private_key",
            Self::BadSignature => "bad_signature",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::WrongMethod => "wrong_htm",
            Self::WrongUri => "wrong_htu",
            Self::Stale => "stale",
            Self::Future => "future",
            Self::WrongAth => "wrong_ath",
            Self::Replayed => "replayed",
            Self::ReplayCacheFull => "replay_cache_full",
            Self::KeyMismatch => "key_mismatch",
        }
    }
}

/// The request a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// HTTP method (`POST`, `GET`, ...), compared exactly.
    pub method: &'a str,
    /// The request URI as the verifier sees it (query and fragment are ignored); normalised
    /// with [`normalise_htu`] before comparing.
    pub uri: &'a str,
    /// The access token presented with the proof (resource servers): `ath` is then required
    /// and must be its hash. `None` at the token endpoint.
    pub access_token: Option<&'a str>,
}

/// A proof that passed every check but replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopProof {
    /// RFC 7638 SHA-256 thumbprint of the proof key, base64url.
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// The proof's `iat` (Unix seconds, rounded down).
    pub iat: u64,
}

/// Checks proofs with an `iat` window and records them in a replay cache.
#[derive(Debug, Clone)]
pub struct DpopVerifier {
    max_age: Duration,
    replay: Arc<ReplayCache>,
}

impl DpopVerifier {
    /// A verifier with `max_age` as the `iat` window, recording into `replay`.
    pub fn new(max_age: Duration, replay: Arc<ReplayCache>) -> Self {
        Self { max_age, replay }
    }

    /// A verifier recording into the process-wide replay cache ([`ReplayCache::shared`]), so
    /// every policy instance and the authorization server of this node see each other's
    /// proofs (and a config reload does not forget them).
    pub fn shared(max_age: Duration) -> Self {
        Self::new(max_age, ReplayCache::shared())
    }

    /// The `iat` window.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Every check, then records the proof against replay.
    pub fn verify(
        &self,
        proof: &str,
        req: &ProofRequest<'_>,
        now: SystemTime,
    ) -> Result<DpopProof, DpopError> {
        let checked = self.check(proof, req, now)?;
        self.record(&checked, now)?;
        Ok(checked)
    }

    /// Every check except replay: for callers that compare the key with a token binding
    /// first and then [`record`](Self::record).
    pub fn check(
        &self,
        proof: &str,
        req: &ProofRequest<'_>,
        now: SystemTime,
    ) -> Result<DpopProof, DpopError> {
        let rules = Rules {
            algorithms: DPOP_ALGORITHMS.to_vec(),
            max_token_size: MAX_PROOF_SIZE,
            token_types: Some(vec!["dpop+jwt".into()]),
            ..Rules::default()
        };
        let parsed = rules.parse(proof).map_err(|e| match e {
            VerifyError::TooLarge => DpopError::TooLarge,
            VerifyError::DisallowedAlgorithm => DpopError::DisallowedAlgorithm,
            VerifyError::WrongType => DpopError::WrongType,
            VerifyError::UnsupportedCrit => DpopError::Malformed("unsupported crit header"),
            VerifyError::Malformed(m) => DpopError::Malformed(m),
            _ => DpopError::Malformed("bad header"),
        })?;
        let jwk = match parsed.header().get("jwk") {
            Some(Value::Object(jwk)) => jwk,
            Some(_) => return Err(DpopError::BadKey("jwk is not an object")),
            None => return Err(DpopError::BadKey("jwk header missing")),
        };
        if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
            return Err(DpopError::PrivateKey);
        }
        let jkt = thumbprint(jwk)?;
        let parsed_jwk: Jwk = serde_json::from_value(Value::Object(jwk.clone()))
            .map_err(|_| DpopError::BadKey("not a JWK"))?;
        let key =
            VerifyKey::from_jwk(&parsed_jwk).map_err(|_| DpopError::BadKey("unusable key"))?;
        if !key.accepts(parsed.alg()) {
            return Err(DpopError::BadKey("key does not fit alg"));
        }
        let claims = parsed
            .verified_claims(key.decoding_key())
            .map_err(|e| match e {
                VerifyError::BadSignature => DpopError::BadSignature,
                VerifyError::KeyMismatch => DpopError::BadKey("key does not fit alg"),
                _ => DpopError::Malformed("bad claims"),
            })?;
        let jti = match claims.get("jti") {
            Some(Value::String(j)) if !j.is_empty() && j.len() <= MAX_JTI_LEN => j.clone(),
            _ => return Err(DpopError::InvalidClaim("jti")),
        };
        match claims.get("htm") {
            Some(Value::String(m)) if m == req.method => {}
            Some(Value::String(_)) => return Err(DpopError::WrongMethod),
            _ => return Err(DpopError::InvalidClaim("htm")),
        }
        let htu = match claims.get("htu") {
            Some(Value::String(u)) => normalise_htu(u).ok_or(DpopError::InvalidClaim("htu"))?,
            _ => return Err(DpopError::InvalidClaim("htu")),
        };
        if normalise_htu(req.uri).is_none_or(|expected| expected != htu) {
            return Err(DpopError::WrongUri);
        }
        let iat = match claims.get("iat") {
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|v| v.is_finite())
                .ok_or(DpopError::InvalidClaim("iat"))?,
            _ => return Err(DpopError::InvalidClaim("iat")),
        };
        let now_s = unix_f64(now);
        let window = self.max_age.as_secs_f64();
        if iat > now_s + window {
            return Err(DpopError::Future);
        }
        if iat < now_s - window {
            return Err(DpopError::Stale);
        }
        if let Some(token) = req.access_token {
            match claims.get("ath") {
                Some(Value::String(ath)) if *ath == access_token_hash(token) => {}
                _ => return Err(DpopError::WrongAth),
            }
        }
        Ok(DpopProof {
            jkt,
            jti,
            // In range: the window check bounded it around now.
            iat: iat.max(0.0) as u64,
        })
    }

    /// Records a checked proof; `Err(Replayed)` if its (key, `jti`) was seen within the window.
    pub fn record(&self, proof: &DpopProof, now: SystemTime) -> Result<(), DpopError> {
        // The proof stops passing the `iat` check after iat + max_age; keep it until then.
        let until = proof.iat + self.max_age.as_secs() + 1;
        self.replay
            .insert(&proof.jkt, &proof.jti, until, unix_secs(now))
    }
}

/// `base64url(SHA-256(token))`: the `ath` claim for an access token (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK given as JSON members: the required members
/// of its `kty`, in lexicographic order, without whitespace.
pub fn thumbprint(jwk: &Map<String, Value>) -> Result<String, DpopError> {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => return Err(DpopError::BadKey("kty must be RSA, EC or OKP")),
    };
    let mut canonical = String::from("{");
    for (i, name) in members.iter().enumerate() {
        let value = jwk
            .get(*name)
            .and_then(Value::as_str)
            .ok_or(DpopError::BadKey("required key member missing"))?;
        if i > 0 {
            canonical.push(',');
        }
        canonical.push('"');
        canonical.push_str(name);
        canonical.push_str("\":");
        // serde_json escapes exactly as RFC 7638 §3 requires (JSON string, no whitespace).
        canonical.push_str(&Value::from(value).to_string());
    }
    canonical.push('}');
    Ok(URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes())))
}

/// The `htu` comparison form of a URI: scheme and host lower-cased, default port dropped, dot
/// segments resolved, query and fragment removed (RFC 9449 §4.3 step 9, RFC 3986 §6.2.2-3).
/// `None` for anything but an absolute http(s) URI with a host and no userinfo.
pub fn normalise_htu(uri: &str) -> Option<String> {
    let mut url = url::Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url.into())
}

fn unix_f64(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Seen (key, `jti`) pairs until their proofs expire, bounded, in memory (per node).
#[derive(Debug)]
pub struct ReplayCache {
    shards: Vec<Mutex<Shard>>,
}

#[derive(Debug, Default)]
struct Shard {
    /// Hash of (jkt, jti) → Unix second from which it may be forgotten.
    live: HashMap<[u8; 32], u64>,
    /// The same entries by expiry, for purging in order.
    by_expiry: BinaryHeap<Reverse<(u64, [u8; 32])>>,
    capacity: usize,
}

impl ReplayCache {
    /// A cache holding at most `entries` live proofs.
    pub fn new(entries: usize) -> Self {
        let per_shard = entries.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        capacity: per_shard,
                        ..Shard::default()
                    })
                })
                .collect(),
        }
    }

    /// The process-wide cache ([`DEFAULT_REPLAY_ENTRIES`] entries).
    pub fn shared() -> Arc<Self> {
        static SHARED: OnceLock<Arc<ReplayCache>> = OnceLock::new();
        SHARED
            .get_or_init(|| Arc::new(Self::new(DEFAULT_REPLAY_ENTRIES)))
            .clone()
    }

    /// Live entries (for tests and metrics).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().live.len()).sum()
    }

    /// True if nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, jkt: &str, jti: &str, until: u64, now: u64) -> Result<(), DpopError> {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(jkt.as_bytes());
        ctx.update(&[0]);
        ctx.update(jti.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        let mut shard = self.shards[usize::from(key[0]) % SHARDS].lock();
        shard.purge(now);
        if shard.live.get(&key).is_some_and(|&exp| exp > now) {
            return Err(DpopError::Replayed);
        }
        if shard.live.len() >= shard.capacity {
            tracing::warn!("DPoP replay cache full; proof refused");
            return Err(DpopError::ReplayCacheFull);
        }
        shard.live.insert(key, until);
        shard.by_expiry.push(Reverse((until, key)));
        Ok(())
    }
}

impl Shard {
    fn purge(&mut self, now: u64) {
        while let Some(Reverse((exp, key))) = self.by_expiry.peek().copied() {
            if exp > now {
                break;
            }
            self.by_expiry.pop();
            if self.live.get(&key) == Some(&exp) {
                self.live.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests;
