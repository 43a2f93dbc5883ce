//! Keeps the gateway's in-memory copies of store data current: the [`KeyIndex`] (credentials,
//! so revocations reach the gateway within about a second, invariant 1) and the
//! [`KvmSnapshot`] (key-value maps read by `kvm-lookup`), without the hot path ever waiting on
//! storage.
//!
//! Writers may be other processes (the `portcullis keys` CLI against the same SQLite file), so
//! one task per node polls a cheap [`ChangeMarker`] (change-log seq plus SQLite's
//! `data_version`, which also catches hand edits that bypass the change log) and reloads every
//! [`Follower`] whose copy is older than the marker. Writes through the same store handle wake
//! it at once through [`KeyRepository::local_changes`], and writes by other nodes wake it
//! through the backend's [`ChangeFeed`] where there is one (PostgreSQL LISTEN/NOTIFY). One task
//! serves every follower, so a node holds one LISTEN connection and one poll, however many
//! snapshots it keeps. Polling never stops, even with a live feed: a feed can fail silently
//! (half-open TCP), and the poll is what bounds the delay then. If the database becomes
//! unreadable the last snapshots keep serving: refusing every key because of a storage hiccup
//! would turn it into an outage.
//!
//! The marker does not say *what* changed, so any change reloads every follower; both loads
//! are one query (credentials) or one query per served environment (KVM), which is cheap at
//! the rate catalog changes happen.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::task::JoinHandle;

use crate::feed::ChangeFeed;
use crate::index::KeyIndex;
use crate::kvm_snapshot::KvmSnapshot;
use crate::model::ChangeMarker;
use crate::{KeyRepository, KvmRepository, StoreError};

/// Poll interval used by the gateway unless configured otherwise.
pub const DEFAULT_POLL: Duration = Duration::from_millis(250);
/// At most one warning per this interval while the database stays unreadable.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// An in-memory copy of store data that is reloaded whole when the store changes.
#[async_trait]
pub trait Follower: Send + Sync {
    /// What it holds, for logs (`credential index`, `kvm`).
    fn name(&self) -> &'static str;
    /// Loads the current data and publishes it as at least as new as `seq`, a change-log seq
    /// read *before* loading (a write racing the load only makes the copy newer).
    async fn reload(&self, seq: i64) -> Result<(), StoreError>;
}

/// The reload loop shared by every [`Follower`] of a node.
#[derive(Debug)]
pub struct StoreSync;

/// Keeps a [`KeyIndex`] current.
#[derive(Debug)]
pub struct IndexSync;

/// Keeps a [`KvmSnapshot`] of the environments a node serves current.
#[derive(Debug)]
pub struct KvmSync;

// === impl StoreSync ===

impl StoreSync {
    /// Starts the reload loop on the current tokio runtime. It runs until the handle is
    /// aborted (or the runtime shuts down). The first iteration loads every follower.
    pub fn spawn(
        store: Arc<dyn KeyRepository>,
        followers: Vec<Arc<dyn Follower>>,
        poll: Duration,
    ) -> JoinHandle<()> {
        tokio::spawn(run(store, followers, poll))
    }

    /// Loads every follower once. Returns the seq published. Useful at start-up to fail fast
    /// when the database cannot be read at all.
    pub async fn refresh(
        store: &dyn KeyRepository,
        followers: &[Arc<dyn Follower>],
    ) -> Result<i64, StoreError> {
        let marker = store.change_marker().await?;
        for follower in followers {
            follower.reload(marker.seq).await?;
        }
        Ok(marker.seq)
    }
}

// === impl IndexSync ===

impl IndexSync {
    /// Starts a reload loop for `index` alone (see [`StoreSync::spawn`]; a gateway node uses
    /// one loop for all its followers).
    pub fn spawn(
        store: Arc<dyn KeyRepository>,
        index: Arc<KeyIndex>,
        poll: Duration,
    ) -> JoinHandle<()> {
        let follower = Self::follower(Arc::clone(&store), index);
        StoreSync::spawn(store, vec![follower], poll)
    }

    /// Loads the full credential set once and publishes it. Returns the seq published.
    pub async fn refresh(store: &dyn KeyRepository, index: &KeyIndex) -> Result<i64, StoreError> {
        let marker = store.change_marker().await?;
        reload_index(store, index, marker.seq).await?;
        Ok(marker.seq)
    }

    /// `index` as a follower of `store`.
    pub fn follower(store: Arc<dyn KeyRepository>, index: Arc<KeyIndex>) -> Arc<dyn Follower> {
        Arc::new(IndexFollower { store, index })
    }
}

struct IndexFollower {
    store: Arc<dyn KeyRepository>,
    index: Arc<KeyIndex>,
}

#[async_trait]
impl Follower for IndexFollower {
    fn name(&self) -> &'static str {
        "credential index"
    }

    async fn reload(&self, seq: i64) -> Result<(), StoreError> {
        reload_index(self.store.as_ref(), &self.index, seq).await
    }
}

async fn reload_index(
    store: &dyn KeyRepository,
    index: &KeyIndex,
    seq: i64,
) -> Result<(), StoreError> {
    let entries = store.load_credentials().await?;
    let count = entries.len();
    if index.publish(entries, seq) {
        tracing::debug!(seq, keys = count, "credential index reloaded");
    }
    Ok(())
}

// === impl KvmSync ===

impl KvmSync {
    /// `snapshot` as a follower of `store`, holding the entries of `environments` (the ones
    /// the node's listeners serve; other environments' secrets never enter its memory).
    pub fn follower(
        store: Arc<dyn KvmRepository>,
        snapshot: Arc<KvmSnapshot>,
        environments: Vec<String>,
    ) -> Arc<dyn Follower> {
        Arc::new(KvmFollower {
            store,
            snapshot,
            environments,
        })
    }
}

struct KvmFollower {
    store: Arc<dyn KvmRepository>,
    snapshot: Arc<KvmSnapshot>,
    environments: Vec<String>,
}

#[async_trait]
impl Follower for KvmFollower {
    fn name(&self) -> &'static str {
        "kvm"
    }

    async fn reload(&self, seq: i64) -> Result<(), StoreError> {
        let mut entries = Vec::new();
        for env in &self.environments {
            entries.extend(self.store.kvm_load_environment(env).await?);
        }
        let count = entries.len();
        if self.snapshot.publish(entries, seq) {
            // Counts only: values never reach a log line.
            tracing::debug!(seq, entries = count, "kvm snapshot reloaded");
        }
        Ok(())
    }
}

// === the loop ===

async fn run(store: Arc<dyn KeyRepository>, followers: Vec<Arc<dyn Follower>>, poll: Duration) {
    let mut local = store.local_changes();
    let mut local_open = true;
    let mut feed = store.subscribe_changes();
    // What each follower was last loaded at, so a follower that failed is retried on the next
    // round even when the marker has not moved since.
    let mut last: Vec<Option<ChangeMarker>> = vec![None; followers.len()];
    let mut failures = Failures::default();
    loop {
        match store.change_marker().await {
            Ok(marker) => {
                let mut failed = None;
                for (follower, seen) in followers.iter().zip(last.iter_mut()) {
                    if *seen == Some(marker) {
                        continue;
                    }
                    match follower.reload(marker.seq).await {
                        Ok(()) => *seen = Some(marker),
                        Err(e) => failed = Some((follower.name(), e)),
                    }
                }
                match failed {
                    None => failures.recovered(),
                    Some((what, e)) => failures.record(what, &e),
                }
            }
            Err(e) => failures.record("change marker", &e),
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            changed = local.changed(), if local_open => {
                // A dropped sender only means no more local wake-ups; polling carries on.
                local_open = changed.is_ok();
            }
            alive = feed_changed(&mut feed) => {
                if !alive {
                    feed = None;
                }
            }
        }
    }
}

/// Waits for the feed, or forever without one (so `select!` just never picks this branch).
async fn feed_changed(feed: &mut Option<ChangeFeed>) -> bool {
    match feed {
        Some(feed) => feed.changed().await,
        None => std::future::pending().await,
    }
}

/// Rate-limited reporting of reload failures.
#[derive(Default)]
struct Failures {
    count: u64,
    last_warn: Option<Instant>,
}

impl Failures {
    fn record(&mut self, what: &'static str, err: &StoreError) {
        self.count += 1;
        let due = self.last_warn.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if due {
            self.last_warn = Some(Instant::now());
            // The cause (driver message) is for operators' logs only; it never carries
            // key material, and `StoreError`'s own message stays generic for callers.
            let cause = std::error::Error::source(err).map(ToString::to_string);
            tracing::warn!(
                error = %err,
                cause = cause.as_deref().unwrap_or(""),
                failures = self.count,
                reloading = what,
                "store unreadable; serving the last snapshots"
            );
        }
    }

    fn recovered(&mut self) {
        if self.count > 0 {
            tracing::info!(failures = self.count, "store readable again");
            *self = Failures::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::management::{Actor, CatalogRepository};
    use crate::{Keyring, SqliteStore};

    /// A KVM write by another handle (another process, the admin API of another node) reaches
    /// the snapshot through polling, and only served environments are loaded.
    #[tokio::test]
    async fn kvm_changes_by_another_handle_reach_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("p.db");
        let keyring = Arc::new(Keyring::from_master(&[5; 32]));
        let node = Arc::new(SqliteStore::open(&db, Arc::clone(&keyring)).await.unwrap());
        let writer = SqliteStore::open(&db, keyring).await.unwrap();
        let actor = Actor::system();
        for env in ["prod", "test"] {
            writer.ensure_environment(&actor, env).await.unwrap();
        }
        writer
            .kvm_put(&actor, "test", "secrets", "token", "test-only", None)
            .await
            .unwrap();
        let snapshot = Arc::new(KvmSnapshot::new());
        let follower = KvmSync::follower(node.clone(), Arc::clone(&snapshot), vec!["prod".into()]);
        let task = StoreSync::spawn(node, vec![follower], Duration::from_millis(20));
        for value in ["v1", "v2"] {
            let info = writer
                .kvm_put(&actor, "prod", "secrets", "token", value, None)
                .await
                .unwrap();
            let seq = writer.change_seq().await.unwrap();
            tokio::time::timeout(Duration::from_secs(2), snapshot.wait_for_seq(seq))
                .await
                .expect("snapshot caught up");
            let got = snapshot.get("prod", "secrets", "token").unwrap();
            assert_eq!(got.expose(), value, "version {}", info.version);
        }
        assert!(snapshot.get("test", "secrets", "token").is_none());
        assert_eq!(snapshot.len(), 1);
        task.abort();
    }
}
