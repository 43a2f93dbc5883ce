//! Token-signing keys: loaded from the store (private halves sealed there), published as a
//! JWKS, and rotated on a schedule.
//!
//! Rotation never breaks a verifier: a new key is first stored as `next` and published in the
//! JWKS; only after `publish_ahead` (so every cached JWKS has had time to pick it up) does it
//! become `active` and sign, while the old key is `retired` and stays published until every
//! token it signed has expired. Several nodes may run the schedule; the store makes the
//! promotion atomic, so exactly one rotation happens and the others just reload.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use portcullis_jose::{Algorithm, JwkSet, KeySet, Signer};
use portcullis_store::{
    NewSigningKey, OAuthRepository, SigningKeyRecord, SigningKeyState, StoreError,
};
use rand::TryRng;
use rand::rngs::SysRng;

use crate::settings::Settings;

/// Extra time a retired key stays published beyond the longest token lifetime (clock skew,
/// verifier caches).
const RETIRED_GRACE: Duration = Duration::from_secs(300);

/// One consistent view of the keys.
pub struct KeySnapshot {
    /// The signing key, if one is active.
    pub active: Option<Arc<Signer>>,
    /// Public keys of every published key (next, active, retired), for verification.
    pub key_set: Arc<KeySet>,
    /// The JWKS document served at `/oauth2/jwks`.
    pub jwks: Bytes,
    /// Kids by state, for tests and status.
    pub states: Vec<(String, SigningKeyState)>,
}

/// The signing keys of the deployment.
pub struct SigningKeys {
    store: Arc<dyn OAuthRepository>,
    current: ArcSwap<KeySnapshot>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("states", &self.current.load().states)
            .finish_non_exhaustive()
    }
}

fn new_kid() -> Result<String, StoreError> {
    let mut bytes = [0u8; 12];
    SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("signing key: {e}"))
}

/// Generates a key pair off the runtime (RSA generation takes a while).
async fn generate(alg: Algorithm, state: SigningKeyState) -> Result<NewSigningKey, StoreError> {
    let kid = new_kid()?;
    tokio::task::spawn_blocking(move || {
        let signer = Signer::generate(kid.clone(), alg).map_err(invalid)?;
        Ok(NewSigningKey {
            kid,
            alg: portcullis_jose::alg_name_of(alg).to_owned(),
            private_pkcs8: zeroize::Zeroizing::new(signer.pkcs8_der().to_vec()),
            public_jwk: serde_json::to_string(signer.public_jwk()).map_err(invalid)?,
            state,
        })
    })
    .await
    .map_err(|e| StoreError::Unavailable(Box::new(e)))?
}

fn signer(record: &SigningKeyRecord) -> Result<Signer, StoreError> {
    let alg: Algorithm = record.alg.parse().map_err(invalid)?;
    Signer::from_pkcs8_der(record.kid.clone(), alg, &record.private_pkcs8).map_err(invalid)
}

fn snapshot(records: &[SigningKeyRecord]) -> KeySnapshot {
    let mut signers = Vec::new();
    let mut active = None;
    let mut states = Vec::new();
    for r in records {
        match signer(r) {
            Ok(s) => {
                let s = Arc::new(s);
                if r.state == SigningKeyState::Active {
                    active = Some(s.clone());
                }
                states.push((r.kid.clone(), r.state));
                signers.push(s);
            }
            Err(e) => tracing::error!(kid = %r.kid, error = %e, "unusable signing key skipped"),
        }
    }
    let set: JwkSet = portcullis_jose::jwk_set(signers.iter().map(|s| &**s));
    let jwks = serde_json::to_vec(&set)
        .map(Bytes::from)
        .unwrap_or_default();
    KeySnapshot {
        active,
        key_set: Arc::new(KeySet::from_jwk_set(&set)),
        jwks,
        states,
    }
}

impl SigningKeys {
    /// Loads the keys from the store (nothing is created).
    pub async fn load(store: Arc<dyn OAuthRepository>) -> Result<Self, StoreError> {
        let records = store.signing_keys().await?;
        Ok(Self {
            store,
            current: ArcSwap::from_pointee(snapshot(&records)),
        })
    }

    /// The current keys.
    pub fn current(&self) -> Arc<KeySnapshot> {
        self.current.load_full()
    }

    /// Re-reads the keys (another node may have rotated).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let records = self.store.signing_keys().await?;
        self.current.store(Arc::new(snapshot(&records)));
        Ok(())
    }

    /// Runs the schedule once at `now`: makes sure an active and a next key exist, promotes
    /// the next key when the active one is due and the next one has been published long
    /// enough, deletes retired keys nobody can need, then reloads.
    pub async fn maintain(&self, settings: &Settings, now: SystemTime) -> Result<(), StoreError> {
        let signing = &settings.signing;
        let records = self.store.signing_keys().await?;
        let active = records.iter().find(|r| r.state == SigningKeyState::Active);
        let next = records
            .iter()
            .filter(|r| r.state == SigningKeyState::Next)
            .max_by_key(|r| r.created_at);
        match (active, next) {
            (None, Some(next)) => {
                // Nothing signs (first boot raced, or keys were deleted): take the next key now.
                let fresh = generate(signing.algorithm, SigningKeyState::Next).await?;
                self.store.rotate_signing_keys(&next.kid, &fresh).await?;
            }
            (None, None) => {
                let first = generate(signing.algorithm, SigningKeyState::Active).await?;
                match self.store.add_signing_key(&first).await {
                    Ok(()) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
                let fresh = generate(signing.algorithm, SigningKeyState::Next).await?;
                self.store.add_signing_key(&fresh).await?;
            }
            (Some(_), None) => {
                let fresh = generate(signing.algorithm, SigningKeyState::Next).await?;
                self.store.add_signing_key(&fresh).await?;
            }
            (Some(active), Some(next)) => {
                let signed_since = active.activated_at.unwrap_or(active.created_at);
                let due = signed_since + signing.rotate_every <= now;
                let published_long_enough = next.created_at + signing.publish_ahead <= now;
                if due && published_long_enough {
                    let fresh = generate(signing.algorithm, SigningKeyState::Next).await?;
                    if self.store.rotate_signing_keys(&next.kid, &fresh).await? {
                        tracing::info!(kid = %next.kid, "signing key rotated");
                    }
                }
            }
        }
        let keep = settings.longest_token_lifetime() + RETIRED_GRACE;
        if let Some(cutoff) = now.checked_sub(keep) {
            self.store.delete_retired_keys(cutoff).await?;
        }
        self.reload().await
    }

    /// How often [`maintain`](Self::maintain) should run: often enough that a next key is
    /// seen by every node well within its publication period.
    pub fn interval(settings: &Settings) -> Duration {
        (settings.signing.publish_ahead / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }
}
