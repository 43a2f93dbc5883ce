//! [`Verifier`]: [`Rules`] plus where the keys come from (a fixed set or a remote JWKS), with the
//! unknown-`kid` refresh wired in.

use std::sync::Arc;
use std::time::SystemTime;

use crate::cache::{VerifiedCache, token_hash};
use crate::error::VerifyError;
use crate::jwks::JwksCache;
use crate::keys::KeySet;
use crate::verify::{Rules, Verified};

/// Where verification keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A fixed set (inline or file JWKS, or our own signers).
    Static(Arc<KeySet>),
    /// A remote JWKS, cached.
    Remote(Arc<JwksCache>),
}

/// Verifies tokens of one issuer.
#[derive(Debug, Clone)]
pub struct Verifier {
    rules: Arc<Rules>,
    keys: KeySource,
}

impl Verifier {
    /// A verifier with these rules and keys.
    pub fn new(rules: Rules, keys: KeySource) -> Self {
        Self {
            rules: Arc::new(rules),
            keys,
        }
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The key source.
    pub fn key_source(&self) -> &KeySource {
        &self.keys
    }

    /// Verifies `token` now. Header checks run before any key is looked up, so forged headers
    /// (`alg: none`, unpinned algorithms, `crit`) never cause a JWKS fetch; an unknown `kid`
    /// causes at most one rate-limited refresh.
    pub async fn verify(&self, token: &str) -> Result<Verified, VerifyError> {
        let parsed = self.rules.parse(token)?;
        let now = SystemTime::now();
        match &self.keys {
            KeySource::Static(keys) => self.rules.finish(parsed, keys, now),
            KeySource::Remote(cache) => {
                let mut keys = cache.keys().await?;
                let hmac = crate::verify::is_hmac(parsed.alg());
                if !hmac
                    && let Some(kid) = parsed.kid()
                    && !keys.contains_kid(kid)
                    && let Some(fresh) = cache.refresh_for_unknown_kid().await
                {
                    keys = fresh;
                }
                self.rules.finish(parsed, &keys, now)
            }
        }
    }

    async fn current_keys(&self) -> Result<Arc<KeySet>, VerifyError> {
        match &self.keys {
            KeySource::Static(keys) => Ok(keys.clone()),
            KeySource::Remote(cache) => cache.keys().await,
        }
    }

    /// [`verify`](Self::verify) through `cache` (see [`VerifiedCache`]): a token that verified
    /// before, whose key is still published, skips the signature check; its time claims are
    /// checked again now. `derive` builds the cached value from a freshly verified token. One
    /// cache must only be used with one verifier.
    pub async fn verify_cached<T: Send + Sync + 'static>(
        &self,
        token: &str,
        cache: &VerifiedCache<T>,
        derive: impl FnOnce(&Verified) -> T,
    ) -> Result<Arc<T>, VerifyError> {
        if token.len() > self.rules.max_token_size {
            return Err(VerifyError::TooLarge);
        }
        let hash = token_hash(token);
        let keys = self.current_keys().await?;
        let (leeway, max) = (self.rules.leeway, self.rules.max_lifetime);
        if let Some(hit) = cache.get(&hash, &keys, SystemTime::now(), leeway, max) {
            return hit;
        }
        let verified = self.verify(token).await?;
        let value = Arc::new(derive(&verified));
        // The set may have been refreshed for an unknown kid: remember against the current one.
        let keys = self.current_keys().await?;
        cache.insert(hash, &verified, &keys, value.clone());
        Ok(value)
    }
}
