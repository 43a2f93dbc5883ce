//! The in-memory credential index the gateway consults on every request.
//!
//! Protects the hot path from the database (invariant 1): a lookup is one HMAC-SHA256 and one
//! hash-map probe on an immutable snapshot, read through `ArcSwap` without locks, and a
//! request keeps the snapshot it started with even if a reload publishes a new one.
//!
//! Timing: the map is keyed by the HMAC-SHA256 of the presented key, and its probing and equality
//! checks are not constant-time. That is fine because what an attacker controls is the
//! *preimage*: learning how close `HMAC(guess)` lands to a stored hash says nothing about
//! the stored key, and steering the hash towards a target would need a preimage attack on
//! HMAC-SHA256 under a key the attacker does not have. The plaintext key itself is never compared with anything.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::Keyring;
use crate::model::{AppStatus, CredentialEntry, DeveloperStatus, KeyStatus};
use crate::secret::KeyHashMap;

/// Result of checking a presented key. Every refusal carries the entry so the gateway can log
/// *which* key was refused (by prefix) and why, while answering the client uniformly.
///
/// This judges the key, its app and its developer. Whether the key may call *this* API, path
/// and method is the product level, decided next on the entry with
/// [`CredentialEntry::authorize`] (no approved product → `key.not_approved`; approved products
/// that do not cover the request → `product.path_not_allowed` and friends).
#[derive(Debug, Clone)]
pub enum KeyLookup {
    /// The key, its app and its developer are all in good standing (products not yet
    /// checked: see [`CredentialEntry::authorize`]).
    Valid(Arc<CredentialEntry>),
    /// No such key.
    Unknown,
    /// The key itself was revoked.
    Revoked(Arc<CredentialEntry>),
    /// The key's expiry has passed.
    Expired(Arc<CredentialEntry>),
    /// The key's app was revoked.
    AppRevoked(Arc<CredentialEntry>),
    /// The key's developer is inactive.
    DeveloperInactive(Arc<CredentialEntry>),
}

impl KeyLookup {
    /// The matched entry, whatever the verdict (`None` only for `Unknown`).
    pub fn entry(&self) -> Option<&Arc<CredentialEntry>> {
        match self {
            KeyLookup::Unknown => None,
            KeyLookup::Valid(e)
            | KeyLookup::Revoked(e)
            | KeyLookup::Expired(e)
            | KeyLookup::AppRevoked(e)
            | KeyLookup::DeveloperInactive(e) => Some(e),
        }
    }

    /// True only for [`KeyLookup::Valid`].
    pub fn is_valid(&self) -> bool {
        matches!(self, KeyLookup::Valid(_))
    }
}

struct Snapshot {
    /// Change-log seq the snapshot is at least as new as; -1 before the first load.
    seq: i64,
    by_hash: KeyHashMap<Arc<CredentialEntry>>,
}

/// Lock-free, atomically replaced map from key hash to credential.
pub struct KeyIndex {
    current: ArcSwap<Snapshot>,
    seq_tx: watch::Sender<i64>,
    /// Hashes presented keys the way the store hashed them (keyed HMAC). Bound once, when the
    /// store is opened (the index exists earlier, because compiled policies hold it); until
    /// then every lookup is `Unknown`.
    keyring: OnceLock<Arc<Keyring>>,
}

impl Default for KeyIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for KeyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snap = self.current.load();
        f.debug_struct("KeyIndex")
            .field("seq", &snap.seq)
            .field("keys", &snap.by_hash.len())
            .finish()
    }
}

impl KeyIndex {
    /// An empty index that has not been loaded yet (`seq() == -1`); every lookup is `Unknown`.
    /// Lookups answer `Unknown` until [`bind_keyring`](Self::bind_keyring) is called.
    pub fn new() -> Self {
        KeyIndex {
            keyring: OnceLock::new(),
            current: ArcSwap::from_pointee(Snapshot {
                seq: -1,
                by_hash: KeyHashMap::default(),
            }),
            seq_tx: watch::channel(-1).0,
        }
    }

    /// An index already bound to `keyring`.
    pub fn with_keyring(keyring: Arc<Keyring>) -> Self {
        let index = Self::new();
        index.bind_keyring(keyring);
        index
    }

    /// Binds the store's keyring (the first binding wins; later calls are ignored, so a
    /// running index can never switch hashing under its snapshot).
    pub fn bind_keyring(&self, keyring: Arc<Keyring>) {
        let _ = self.keyring.set(keyring);
    }

    /// Checks a key exactly as presented by the client. Order of verdicts: the key's own
    /// state (revoked, then expired), then its app, then its developer.
    pub fn lookup(&self, presented_key: &str, now: SystemTime) -> KeyLookup {
        let Some(keyring) = self.keyring.get() else {
            return KeyLookup::Unknown;
        };
        let hash = keyring.hash_credential(presented_key);
        let snap = self.current.load();
        let Some(entry) = snap.by_hash.get(&hash) else {
            return KeyLookup::Unknown;
        };
        let entry = Arc::clone(entry);
        if entry.key_status == KeyStatus::Revoked {
            KeyLookup::Revoked(entry)
        } else if entry.expires_at.is_some_and(|exp| exp <= now) {
            KeyLookup::Expired(entry)
        } else if entry.app_status == AppStatus::Revoked {
            KeyLookup::AppRevoked(entry)
        } else if entry.developer_status == DeveloperStatus::Inactive {
            KeyLookup::DeveloperInactive(entry)
        } else {
            KeyLookup::Valid(entry)
        }
    }

    /// Replaces the whole snapshot. `seq` must be a change-log seq read *before* `entries` was
    /// loaded, so the snapshot is at least as new as the seq it claims. An older seq than the
    /// current one is ignored, so a slow reload cannot roll the index back.
    pub fn publish(&self, entries: Vec<CredentialEntry>, seq: i64) -> bool {
        let by_hash: KeyHashMap<_> = entries
            .into_iter()
            .map(|e| (e.key_hash, Arc::new(e)))
            .collect();
        let next = Arc::new(Snapshot { seq, by_hash });
        let prev = self.current.rcu(|cur| {
            if cur.seq > seq {
                Arc::clone(cur)
            } else {
                Arc::clone(&next)
            }
        });
        let applied = prev.seq <= seq;
        if applied {
            self.seq_tx.send_if_modified(|cur| {
                let newer = seq > *cur;
                if newer {
                    *cur = seq;
                }
                newer
            });
        }
        applied
    }

    /// Change-log seq of the current snapshot (-1 before the first load).
    pub fn seq(&self) -> i64 {
        self.current.load().seq
    }

    /// Number of keys in the current snapshot, revoked ones included.
    pub fn len(&self) -> usize {
        self.current.load().by_hash.len()
    }

    /// True when the snapshot holds no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once the index reflects every change up to and including `seq`. Wrap it in a
    /// timeout: it waits for as long as it takes.
    pub async fn wait_for_seq(&self, seq: i64) {
        let mut rx = self.seq_tx.subscribe();
        // The sender lives as long as `self`, so `wait_for` cannot fail while we borrow it.
        let _ = rx.wait_for(|cur| *cur >= seq).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn keyring() -> Arc<Keyring> {
        Arc::new(Keyring::from_master(&[9; 32]))
    }

    fn entry(key: &str) -> CredentialEntry {
        CredentialEntry {
            key_hash: keyring().hash_credential(key),
            key_id: format!("key_{key}"),
            prefix: key.chars().take(12).collect::<String>().into(),
            key_status: KeyStatus::Active,
            expires_at: None,
            app_id: "app_1".into(),
            app_name: "shop".into(),
            app_status: AppStatus::Approved,
            developer_id: "dev_1".into(),
            developer_email: "a@example.com".into(),
            developer_status: DeveloperStatus::Active,
            products: Vec::new(),
            app_attributes: Default::default(),
            developer_attributes: Default::default(),
        }
    }

    #[test]
    fn verdicts_follow_the_documented_order() {
        let now = SystemTime::now();
        let idx = KeyIndex::with_keyring(keyring());
        let mut revoked_and_expired = entry("k1");
        revoked_and_expired.key_status = KeyStatus::Revoked;
        revoked_and_expired.expires_at = Some(now - Duration::from_secs(1));
        let mut expired_app_revoked = entry("k2");
        expired_app_revoked.expires_at = Some(now);
        expired_app_revoked.app_status = AppStatus::Revoked;
        let mut app_and_dev = entry("k3");
        app_and_dev.app_status = AppStatus::Revoked;
        app_and_dev.developer_status = DeveloperStatus::Inactive;
        let mut dev = entry("k4");
        dev.developer_status = DeveloperStatus::Inactive;
        let mut future = entry("k5");
        future.expires_at = Some(now + Duration::from_secs(60));
        idx.publish(
            vec![
                revoked_and_expired,
                expired_app_revoked,
                app_and_dev,
                dev,
                future,
            ],
            1,
        );
        assert!(matches!(idx.lookup("k1", now), KeyLookup::Revoked(_)));
        assert!(matches!(idx.lookup("k2", now), KeyLookup::Expired(_)));
        assert!(matches!(idx.lookup("k3", now), KeyLookup::AppRevoked(_)));
        assert!(matches!(
            idx.lookup("k4", now),
            KeyLookup::DeveloperInactive(_)
        ));
        assert!(idx.lookup("k5", now).is_valid());
        assert!(matches!(idx.lookup("k6", now), KeyLookup::Unknown));
        assert!(matches!(idx.lookup("", now), KeyLookup::Unknown));
    }

    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one() {
        let idx = KeyIndex::with_keyring(keyring());
        assert_eq!(idx.seq(), -1);
        assert!(idx.publish(vec![entry("new")], 5));
        assert!(!idx.publish(vec![entry("old")], 4));
        assert_eq!(idx.seq(), 5);
        let now = SystemTime::now();
        assert!(idx.lookup("new", now).is_valid());
        assert!(matches!(idx.lookup("old", now), KeyLookup::Unknown));
    }

    #[tokio::test]
    async fn wait_for_seq_wakes_on_publish() {
        let idx = Arc::new(KeyIndex::with_keyring(keyring()));
        let waiter = tokio::spawn({
            let idx = Arc::clone(&idx);
            async move { idx.wait_for_seq(3).await }
        });
        idx.publish(vec![], 2);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        idx.publish(vec![], 3);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
