//! Keeps a [`KeyIndex`] current with the database, so revocations reach the gateway within
//! about a second (invariant 1) without the hot path ever waiting on storage.
//!
//! Writers may be other processes (the `portcullis keys` CLI against the same SQLite file), so
//! the task polls a cheap [`ChangeMarker`] (change-log seq plus SQLite's `data_version`, which
//! also catches hand edits that bypass the change log) and reloads the full credential set
//! when it moves. Writes through the same store handle wake it at once through
//! [`KeyRepository::local_changes`], and writes by other nodes wake it through the backend's
//! [`ChangeFeed`] where there is one (PostgreSQL LISTEN/NOTIFY). Polling never stops, even
//! with a live feed: a feed can fail silently (half-open TCP), and the poll is what bounds the
//! delay then. If the database becomes unreadable the last snapshot keeps
//! serving: refusing every key because of a storage hiccup would turn it into an outage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::feed::ChangeFeed;
use crate::index::KeyIndex;
use crate::model::ChangeMarker;
use crate::{KeyRepository, StoreError};

/// Poll interval used by the gateway unless configured otherwise.
pub const DEFAULT_POLL: Duration = Duration::from_millis(250);
/// At most one warning per this interval while the database stays unreadable.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// Background reloader for a [`KeyIndex`].
#[derive(Debug)]
pub struct IndexSync;

impl IndexSync {
    /// Starts the reload loop on the current tokio runtime. It runs until the handle is
    /// aborted (or the runtime shuts down). The first iteration loads everything at once;
    /// callers that must not serve before that can `index.wait_for_seq(0)`.
    pub fn spawn(
        store: Arc<dyn KeyRepository>,
        index: Arc<KeyIndex>,
        poll: Duration,
    ) -> JoinHandle<()> {
        tokio::spawn(run(store, index, poll))
    }

    /// Loads the full credential set once and publishes it. Returns the seq published. Useful
    /// at start-up to fail fast when the database cannot be read at all.
    pub async fn refresh(store: &dyn KeyRepository, index: &KeyIndex) -> Result<i64, StoreError> {
        let marker = store.change_marker().await?;
        reload(store, index, marker).await
    }
}

/// Reads credentials after `marker` was taken, so the snapshot is at least as new as
/// `marker.seq` (a write racing the load only makes it newer, and the next poll reloads).
async fn reload(
    store: &dyn KeyRepository,
    index: &KeyIndex,
    marker: ChangeMarker,
) -> Result<i64, StoreError> {
    let entries = store.load_credentials().await?;
    let count = entries.len();
    if index.publish(entries, marker.seq) {
        tracing::debug!(seq = marker.seq, keys = count, "credential index reloaded");
    }
    Ok(marker.seq)
}

async fn run(store: Arc<dyn KeyRepository>, index: Arc<KeyIndex>, poll: Duration) {
    let mut local = store.local_changes();
    let mut local_open = true;
    let mut feed = store.subscribe_changes();
    let mut last: Option<ChangeMarker> = None;
    let mut failures = Failures::default();
    loop {
        let outcome = match store.change_marker().await {
            Ok(marker) if last == Some(marker) => Ok(()),
            Ok(marker) => reload(store.as_ref(), &index, marker).await.map(|_| {
                last = Some(marker);
            }),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => failures.recovered(),
            Err(e) => failures.record(&e),
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
    fn record(&mut self, err: &StoreError) {
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
                "credential store unreadable; serving the last credential snapshot"
            );
        }
    }

    fn recovered(&mut self) {
        if self.count > 0 {
            tracing::info!(failures = self.count, "credential store readable again");
            *self = Failures::default();
        }
    }
}
