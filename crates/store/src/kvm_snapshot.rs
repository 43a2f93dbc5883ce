//! The gateway's in-memory copy of the key-value maps of the environments it serves, read by
//! the `kvm-lookup` policy on the hot path.
//!
//! Protects two things. The hot path (invariant 1): a lookup is three hash-map probes on an
//! immutable snapshot read through `ArcSwap`, never a query; [`crate::KvmSync`] replaces the
//! snapshot when the store's change marker moves, like the credential index. And the values
//! (invariant 6): they are decrypted only into [`KvmValue`]s, which are wiped from memory when
//! the last snapshot holding them is dropped, and whose `Debug` (like the snapshot's) never
//! shows them, so a stray `{:?}` in a log line or a panic message cannot leak a backend secret.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::management::KvmEntryInfo;

/// A decrypted KVM value. Redacted in `Debug`, wiped on drop.
pub struct KvmValue(Zeroizing<String>);

impl KvmValue {
    /// The plaintext. Callers must not log it or put it into an error.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KvmValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KvmValue(<redacted>)")
    }
}

/// environment → map → key → value.
type Entries = HashMap<Box<str>, HashMap<Box<str>, HashMap<Box<str>, Arc<KvmValue>>>>;

struct Snapshot {
    /// Change-log seq the snapshot is at least as new as; -1 before the first load.
    seq: i64,
    entries: Entries,
    count: usize,
}

/// Lock-free, atomically replaced snapshot of KVM entries of several environments.
pub struct KvmSnapshot {
    current: ArcSwap<Snapshot>,
    seq_tx: watch::Sender<i64>,
}

impl Default for KvmSnapshot {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for KvmSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snap = self.current.load();
        f.debug_struct("KvmSnapshot")
            .field("seq", &snap.seq)
            .field("entries", &snap.count)
            .finish()
    }
}

impl KvmSnapshot {
    /// An empty snapshot that has not been loaded yet (`seq() == -1`).
    pub fn new() -> Self {
        KvmSnapshot {
            current: ArcSwap::from_pointee(Snapshot {
                seq: -1,
                entries: HashMap::new(),
                count: 0,
            }),
            seq_tx: watch::channel(-1).0,
        }
    }

    /// The value of `key` in `map` of `environment`, if the snapshot has it.
    pub fn get(&self, environment: &str, map: &str, key: &str) -> Option<Arc<KvmValue>> {
        self.current
            .load()
            .entries
            .get(environment)?
            .get(map)?
            .get(key)
            .cloned()
    }

    /// Replaces the whole snapshot with `entries` (decrypted, as
    /// [`crate::KvmRepository::kvm_load_environment`] returns them, for every environment
    /// served). `seq` must have been read *before* the entries were loaded; an older seq than
    /// the current one is ignored, so a slow reload cannot roll the snapshot back.
    pub fn publish(&self, entries: Vec<(KvmEntryInfo, String)>, seq: i64) -> bool {
        let count = entries.len();
        let mut map = Entries::new();
        for (info, value) in entries {
            map.entry(info.environment.into_boxed_str())
                .or_default()
                .entry(info.map.into_boxed_str())
                .or_default()
                .insert(
                    info.key.into_boxed_str(),
                    Arc::new(KvmValue(Zeroizing::new(value))),
                );
        }
        let next = Arc::new(Snapshot {
            seq,
            entries: map,
            count,
        });
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

    /// Number of entries in the current snapshot.
    pub fn len(&self) -> usize {
        self.current.load().count
    }

    /// True when the snapshot holds no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once the snapshot reflects every change up to and including `seq`. Wrap it in
    /// a timeout: it waits for as long as it takes.
    pub async fn wait_for_seq(&self, seq: i64) {
        let mut rx = self.seq_tx.subscribe();
        // The sender lives as long as `self`, so `wait_for` cannot fail while we borrow it.
        let _ = rx.wait_for(|cur| *cur >= seq).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn entry(env: &str, map: &str, key: &str, value: &str) -> (KvmEntryInfo, String) {
        let info = KvmEntryInfo {
            environment: env.into(),
            map: map.into(),
            key: key.into(),
            version: 1,
            updated_at: SystemTime::now(),
        };
        (info, value.into())
    }

    #[test]
    fn lookups_are_scoped_by_environment_and_map() {
        let snap = KvmSnapshot::new();
        assert!(snap.publish(
            vec![
                entry("test", "secrets", "token", "t-value"),
                entry("prod", "secrets", "token", "p-value"),
                entry("prod", "other", "token", "o-value"),
            ],
            3,
        ));
        assert_eq!(
            snap.get("prod", "secrets", "token").unwrap().expose(),
            "p-value"
        );
        assert_eq!(
            snap.get("test", "secrets", "token").unwrap().expose(),
            "t-value"
        );
        assert!(snap.get("stage", "secrets", "token").is_none());
        assert!(snap.get("prod", "secrets", "missing").is_none());
        assert_eq!(snap.len(), 3);
    }

    #[test]
    fn debug_output_never_shows_values() {
        let snap = KvmSnapshot::new();
        snap.publish(vec![entry("prod", "m", "k", "s3cr3t-value")], 1);
        let value = snap.get("prod", "m", "k").unwrap();
        let text = format!("{snap:?} {value:?} {:?}", Some(&value));
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("entries: 1"), "{text}");
    }

    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one() {
        let snap = KvmSnapshot::new();
        assert!(snap.publish(vec![entry("e", "m", "k", "new")], 5));
        assert!(!snap.publish(vec![entry("e", "m", "k", "old")], 4));
        assert_eq!(snap.get("e", "m", "k").unwrap().expose(), "new");
        assert_eq!(snap.seq(), 5);
    }
}
