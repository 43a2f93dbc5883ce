//! [`Verifier`]: [`Rules`] plus where the keys come from (a fixed set or a remote JWKS), with the
//! unknown-`kid` refresh wired in.

use std::sync::Arc;
use std::time::SystemTime;

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
}
