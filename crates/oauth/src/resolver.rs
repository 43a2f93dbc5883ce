//! Token resolution for the gateway (`verify-oauth-token`) and the authorization server's own
//! introspection: what a presented access token means, without a database round trip per
//! request once it is known.
//!
//! - **Opaque tokens** are looked up by keyed hash in the store the first time, then cached
//!   (bounded entry count) until the token expires or `max_ttl` passes, whichever is first.
//!   Revocation through this process evicts at once (single tokens by hash, whole families by
//!   id); other nodes see it within `max_ttl`.
//! - **JWT access tokens** of the built-in server are verified against its published keys
//!   (pinned asymmetric algorithms, `typ: at+jwt`, `iss`, required `exp`, no `nonce`), which
//!   the key schedule keeps current; no lookup at all. A verified JWT is remembered by its
//!   SHA-256 (bounded, [`VerifiedCache`]) so a busy token costs one signature check: every hit
//!   re-checks `exp`/`nbf`/`iat` with the caller's leeway and that its signing key is still
//!   published. (JWTs are not revocable at the gateway, cached or not.)
//!
//! [`LocalTokens`] is created empty (policies are compiled before the store is open) and bound
//! once the store is ([`LocalTokens::bind`]), like the credential index.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use portcullis_jose::{
    DEFAULT_VERIFIED_ENTRIES, Rules, SIGNING_ALGORITHMS, Verified, VerifiedCache, VerifyError,
    token_hash,
};
use portcullis_store::{KeyHash, Keyring, OAuthRepository, TokenOwner, TokenRecord};
use quick_cache::sync::Cache;
use serde_json::{Map, Value};

use crate::keys::SigningKeys;
use crate::mint::ACCESS_TOKEN_MARKER;

/// Default bound on cached token lookups.
pub const DEFAULT_CACHE_ENTRIES: usize = 100_000;
/// Default longest time a cached lookup is trusted (bounds how long a revocation made on
/// another node takes to apply here).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);

/// What an active access token grants, as the gateway attaches it to a request.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    /// Token id (`jti`).
    pub id: String,
    /// `opaque` or `jwt`.
    pub format: &'static str,
    /// The client (credential id).
    pub client_id: String,
    /// The end user, if any.
    pub subject: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Products the token was granted through (the JWT `aud`).
    pub products: Vec<String>,
    /// Issued at.
    pub issued_at: SystemTime,
    /// Expiry.
    pub expires_at: SystemTime,
    /// The client's app and developer (opaque tokens; JWTs carry only the client id).
    pub owner: Option<TokenOwner>,
    /// `cnf.x5t#S256`.
    pub cnf_x5t: Option<String>,
    /// `cnf.jkt`.
    pub cnf_jkt: Option<String>,
    /// Rotation family (opaque only; revocation by family evicts through it).
    pub family_id: Option<String>,
    /// All claims (JWT) or the stored extra claims (opaque).
    pub claims: Map<String, Value>,
}

impl TokenInfo {
    pub(crate) fn from_record(r: &TokenRecord) -> Self {
        Self {
            id: r.id.clone(),
            format: if r.format == "jwt" { "jwt" } else { "opaque" },
            client_id: r.credential_id.clone(),
            subject: r.subject.clone(),
            scopes: r.scopes.clone(),
            products: r.products.clone(),
            issued_at: r.issued_at,
            expires_at: r.expires_at,
            owner: r.owner.clone(),
            cnf_x5t: r.cnf_x5t.clone(),
            cnf_jkt: r.cnf_jkt.clone(),
            family_id: Some(r.family_id.clone()),
            claims: r.claims.clone(),
        }
    }

    fn from_jwt(v: &Verified) -> Self {
        let secs = |name: &str| {
            v.claims
                .get(name)
                .and_then(Value::as_u64)
                .map_or(SystemTime::UNIX_EPOCH, |s| {
                    SystemTime::UNIX_EPOCH + Duration::from_secs(s)
                })
        };
        let cnf = v.claims.get("cnf").and_then(Value::as_object);
        let cnf_str = |k: &str| {
            cnf.and_then(|c| c.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let client_id = v.client_id().unwrap_or_default().to_owned();
        let subject = v.subject().filter(|s| *s != client_id).map(str::to_owned);
        let products = match v.claims.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        Self {
            id: v.str_claim("jti").unwrap_or_default().to_owned(),
            format: "jwt",
            client_id,
            subject,
            scopes: v.scopes(),
            products,
            issued_at: secs("iat"),
            expires_at: secs("exp"),
            owner: None,
            cnf_x5t: cnf_str("x5t#S256"),
            cnf_jkt: cnf_str("jkt"),
            family_id: None,
            claims: v.claims.clone(),
        }
    }
}

/// Why a token is not active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inactive {
    /// Unknown, forged or malformed.
    Invalid,
    /// Past its expiry.
    Expired,
    /// Revoked (or its client was revoked, or a refresh token was replayed).
    Revoked,
}

/// Resolution failed for a reason other than the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The store (or the key set) is not available; the request cannot be judged.
    #[error("token store unavailable")]
    Unavailable,
}

#[derive(Clone)]
struct Cached {
    info: Option<Arc<TokenInfo>>,
    why: Inactive,
    until: Instant,
}

struct Bound {
    store: Arc<dyn OAuthRepository>,
    keyring: Arc<Keyring>,
    keys: Arc<SigningKeys>,
    issuer: Option<String>,
}

/// Resolves tokens of the built-in authorization server. Cheap to share.
pub struct LocalTokens {
    bound: OnceLock<Bound>,
    cache: Cache<KeyHash, Cached>,
    jwts: VerifiedCache<TokenInfo>,
    revoked_families: Cache<String, ()>,
    max_ttl: Duration,
}

impl Default for LocalTokens {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_ENTRIES, DEFAULT_CACHE_TTL)
    }
}

impl std::fmt::Debug for LocalTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTokens")
            .field("bound", &self.bound.get().is_some())
            .field("cached", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl LocalTokens {
    /// An unbound resolver caching at most `entries` lookups for at most `max_ttl` each.
    pub fn new(entries: usize, max_ttl: Duration) -> Self {
        Self {
            bound: OnceLock::new(),
            cache: Cache::new(entries.max(16)),
            jwts: VerifiedCache::new(DEFAULT_VERIFIED_ENTRIES),
            revoked_families: Cache::new(4096),
            max_ttl,
        }
    }

    /// Connects the resolver to the store and the signing keys. `issuer` is the built-in
    /// server's issuer, if this process knows it (JWT access tokens need it). Later calls are
    /// ignored.
    pub fn bind(
        &self,
        store: Arc<dyn OAuthRepository>,
        keyring: Arc<Keyring>,
        keys: Arc<SigningKeys>,
        issuer: Option<String>,
    ) {
        let _ = self.bound.set(Bound {
            store,
            keyring,
            keys,
            issuer,
        });
    }

    /// Whether [`bind`](Self::bind) happened.
    pub fn is_bound(&self) -> bool {
        self.bound.get().is_some()
    }

    /// The built-in server's issuer, if known.
    pub fn issuer(&self) -> Option<&str> {
        self.bound.get().and_then(|b| b.issuer.as_deref())
    }

    /// The signing keys, once bound.
    pub fn signing_keys(&self) -> Option<&Arc<SigningKeys>> {
        self.bound.get().map(|b| &b.keys)
    }

    /// Forgets a cached token (its hash), after a revocation in this process.
    pub fn evict(&self, hash: &KeyHash) {
        self.cache.remove(hash);
    }

    /// Marks a whole family revoked (refresh or code replay) so cached members stop working.
    pub fn revoke_family(&self, family_id: &str) {
        self.revoked_families.insert(family_id.to_owned(), ());
    }

    /// What `token` means at `now`. `leeway` applies to JWT time claims.
    pub async fn resolve(
        &self,
        token: &str,
        leeway: Duration,
    ) -> Result<Result<Arc<TokenInfo>, Inactive>, ResolveError> {
        let bound = self.bound.get().ok_or(ResolveError::Unavailable)?;
        if token.starts_with(ACCESS_TOKEN_MARKER) {
            self.resolve_opaque(bound, token).await
        } else if token.bytes().filter(|b| *b == b'.').count() == 2 {
            Ok(self.resolve_jwt(bound, token, leeway))
        } else {
            Ok(Err(Inactive::Invalid))
        }
    }

    fn resolve_jwt(
        &self,
        bound: &Bound,
        token: &str,
        leeway: Duration,
    ) -> Result<Arc<TokenInfo>, Inactive> {
        let Some(issuer) = bound.issuer.as_ref() else {
            return Err(Inactive::Invalid);
        };
        let keys = bound.keys.current();
        let now = SystemTime::now();
        let hash = token_hash(token);
        let outcome = match self.jwts.get(&hash, &keys.key_set, now, leeway, None) {
            Some(hit) => hit,
            None => {
                let rules = Rules {
                    algorithms: SIGNING_ALGORITHMS.to_vec(),
                    issuer: Some(issuer.clone()),
                    leeway,
                    token_types: Some(vec!["at+jwt".into()]),
                    reject_nonce: true,
                    required_claims: vec!["jti".into(), "client_id".into(), "iat".into()],
                    ..Rules::default()
                };
                rules.verify(token, &keys.key_set, now).map(|v| {
                    let info = Arc::new(TokenInfo::from_jwt(&v));
                    self.jwts.insert(hash, &v, &keys.key_set, info.clone());
                    info
                })
            }
        };
        match outcome {
            Ok(info) => Ok(info),
            Err(VerifyError::Expired) => Err(Inactive::Expired),
            Err(_) => Err(Inactive::Invalid),
        }
    }

    async fn resolve_opaque(
        &self,
        bound: &Bound,
        token: &str,
    ) -> Result<Result<Arc<TokenInfo>, Inactive>, ResolveError> {
        let hash = bound.keyring.hash_credential(token);
        let now = Instant::now();
        if let Some(hit) = self.cache.get(&hash)
            && hit.until > now
        {
            return Ok(self.judge(&hit));
        }
        let record = bound.store.find_token(&hash).await.map_err(|e| {
            tracing::warn!(error = %e, "token lookup failed");
            ResolveError::Unavailable
        })?;
        let wall = SystemTime::now();
        let entry = match record {
            Some(r) if r.kind == portcullis_store::TokenKind::Access && r.is_active(wall) => {
                let ttl = r
                    .expires_at
                    .duration_since(wall)
                    .unwrap_or_default()
                    .min(self.max_ttl);
                Cached {
                    info: Some(Arc::new(TokenInfo::from_record(&r))),
                    why: Inactive::Expired,
                    until: now + ttl,
                }
            }
            Some(r) if r.kind == portcullis_store::TokenKind::Access && r.expires_at <= wall => {
                Cached {
                    info: None,
                    why: Inactive::Expired,
                    until: now + self.max_ttl,
                }
            }
            Some(r) if r.kind == portcullis_store::TokenKind::Access => Cached {
                info: None,
                why: Inactive::Revoked,
                until: now + self.max_ttl,
            },
            _ => Cached {
                info: None,
                why: Inactive::Invalid,
                until: now + self.max_ttl,
            },
        };
        let out = self.judge(&entry);
        self.cache.insert(hash, entry);
        Ok(out)
    }

    fn judge(&self, c: &Cached) -> Result<Arc<TokenInfo>, Inactive> {
        match &c.info {
            Some(info) => {
                if info.expires_at <= SystemTime::now() {
                    return Err(Inactive::Expired);
                }
                if let Some(f) = &info.family_id
                    && self.revoked_families.get(f).is_some()
                {
                    return Err(Inactive::Revoked);
                }
                Ok(info.clone())
            }
            None => Err(c.why),
        }
    }
}
