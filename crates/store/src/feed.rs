//! Push notifications of other nodes' writes, for backends that have them (PostgreSQL
//! LISTEN/NOTIFY).
//!
//! Polling alone bounds revocation latency by the poll interval on every node; a feed lets a
//! node react within milliseconds while polling stays on as the safety net, because a
//! notification can be lost (listen connection dropped, half-open TCP) and a lost one must
//! never mean a revoked key keeps working.

use tokio::sync::watch;

/// State published by a backend's listener task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedState {
    /// Bumped on every notification and on every (re)connection, since notifications sent
    /// while disconnected are lost and the receiver must re-check.
    pub generation: u64,
    /// Whether the listen connection is currently up.
    pub connected: bool,
}

/// A subscription to a backend's change notifications. Dropping it stops the listener task.
#[derive(Debug)]
pub struct ChangeFeed {
    rx: watch::Receiver<FeedState>,
}

impl ChangeFeed {
    pub(crate) fn new(rx: watch::Receiver<FeedState>) -> Self {
        ChangeFeed { rx }
    }

    /// Waits until something may have changed. Returns `false` once the listener task has
    /// ended for good (the caller then relies on polling alone).
    pub async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }

    /// The latest state, without waiting. Marks it seen, so [`changed`](Self::changed) then
    /// waits for a newer one.
    pub fn state(&mut self) -> FeedState {
        *self.rx.borrow_and_update()
    }
}
