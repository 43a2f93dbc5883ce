//! [`VerifiedCache`]: a bounded cache of tokens whose signature already verified, so a busy
//! token costs one signature check (RS256 ≈ 24 µs of CPU) instead of one per request.
//!
//! What it does not weaken:
//! - **Exact token**: entries are keyed by the SHA-256 of the whole compact token; any other
//!   byte string (a changed claim, a different signature, trailing garbage) misses and goes
//!   through full verification.
//! - **Time claims at use**: `exp`, `nbf`, `iat` (and `max_lifetime`) are checked again on
//!   every hit, at that moment and with the caller's leeway; an entry that fails them is
//!   dropped. So nothing expired is ever served, and an entry outlives its token's `exp` (plus
//!   leeway) only until its next lookup or eviction.
//! - **Key still published**: a hit requires that the current key set still holds a key with
//!   the entry's `kid` that fits its algorithm and has the same public key material (a
//!   fingerprint); a key dropped from the JWKS (or a kid reused for another key) ends every
//!   entry it verified.
//! - **Static checks** (`iss`, `aud`, `typ`, required claims, `nonce`, `crit`) depend only on
//!   the token and the rules; one cache must therefore only ever be used with one set of rules.
//! - **Only successes** are cached; forged tokens are verified (and refused) every time.
//! - **Revocation**: JWTs carry no revocation check at the gateway with or without the cache;
//!   callers that add one (e.g. a deny list) must check it on hits too.
//!
//! Bounded by entry count (`quick_cache`, S3-FIFO eviction).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jsonwebtoken::Algorithm;
use quick_cache::sync::Cache;

use crate::error::VerifyError;
use crate::keys::KeySet;
use crate::verify::{Rules, Times, Verified};

/// Default bound on cached tokens.
pub const DEFAULT_VERIFIED_ENTRIES: usize = 10_000;

/// The SHA-256 of a token, the cache key.
pub type TokenHash = [u8; 32];

/// Hashes a compact token for [`VerifiedCache`].
pub fn token_hash(token: &str) -> TokenHash {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

struct Entry<T> {
    value: Arc<T>,
    times: Times,
    kid: Option<String>,
    alg: Algorithm,
    fingerprint: [u8; 32],
}

/// Verified tokens by hash, each with what a hit must re-check. `T` is whatever the caller
/// derives from a [`Verified`] token (the token itself, or a ready-made principal).
pub struct VerifiedCache<T> {
    entries: Cache<TokenHash, Arc<Entry<T>>>,
}

impl<T> std::fmt::Debug for VerifiedCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl<T: Send + Sync + 'static> VerifiedCache<T> {
    /// A cache of at most `entries` tokens (at least 16).
    pub fn new(entries: usize) -> Self {
        Self {
            entries: Cache::new(entries.max(16)),
        }
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached value for `hash`, if its key is still in `keys`: `Some(Ok)` when its time
    /// claims pass at `now` with `leeway` (and `max_lifetime`), `Some(Err)` when they do not
    /// (the entry is dropped), `None` on a miss (verify fully, then [`insert`](Self::insert)).
    pub fn get(
        &self,
        hash: &TokenHash,
        keys: &KeySet,
        now: SystemTime,
        leeway: Duration,
        max_lifetime: Option<Duration>,
    ) -> Option<Result<Arc<T>, VerifyError>> {
        let entry = self.entries.get(hash)?;
        let same_key = keys
            .find(entry.kid.as_deref(), entry.alg)
            .is_ok_and(|k| k.fingerprint() == &entry.fingerprint);
        if !same_key {
            self.entries.remove(hash);
            return None;
        }
        match entry.times.check(now, leeway, max_lifetime) {
            Ok(()) => Some(Ok(entry.value.clone())),
            Err(e) => {
                self.entries.remove(hash);
                Some(Err(e))
            }
        }
    }

    /// Remembers a token that just verified against `keys` (HMAC tokens are not cached: their
    /// check is cheap and their key is not in a key set).
    pub fn insert(&self, hash: TokenHash, token: &Verified, keys: &KeySet, value: Arc<T>) {
        if let Ok(times) = Times::of(&token.claims) {
            self.remember(hash, token.kid.clone(), token.alg, times, keys, value);
        }
    }

    fn remember(
        &self,
        hash: TokenHash,
        kid: Option<String>,
        alg: Algorithm,
        times: Times,
        keys: &KeySet,
        value: Arc<T>,
    ) {
        if crate::verify::is_hmac(alg) {
            return;
        }
        let Ok(key) = keys.find(kid.as_deref(), alg) else {
            return;
        };
        let fingerprint = *key.fingerprint();
        self.entries.insert(
            hash,
            Arc::new(Entry {
                value,
                times,
                kid,
                alg,
                fingerprint,
            }),
        );
    }
}

impl Rules {
    /// [`verify`](Rules::verify) with `cache`: a token verified before (same bytes, key still
    /// in `keys`) skips the signature and the claim decoding; its time claims are checked again.
    /// `derive` builds the cached value from a freshly verified token.
    pub fn verify_cached<T: Send + Sync + 'static>(
        &self,
        token: &str,
        keys: &KeySet,
        now: SystemTime,
        cache: &VerifiedCache<T>,
        derive: impl FnOnce(Verified) -> T,
    ) -> Result<Arc<T>, VerifyError> {
        if token.len() > self.max_token_size {
            return Err(VerifyError::TooLarge);
        }
        let hash = token_hash(token);
        if let Some(hit) = cache.get(&hash, keys, now, self.leeway, self.max_lifetime) {
            return hit;
        }
        let verified = self.verify(token, keys, now)?;
        let (kid, alg, times) = (
            verified.kid.clone(),
            verified.alg,
            Times::of(&verified.claims),
        );
        let value = Arc::new(derive(verified));
        if let Ok(times) = times {
            cache.remember(hash, kid, alg, times, keys, value.clone());
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests;
