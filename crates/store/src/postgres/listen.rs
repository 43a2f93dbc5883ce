//! The LISTEN side of PostgreSQL change propagation.
//!
//! One task per [`ChangeFeed`], on its own connection (a pooled connection cannot be parked in
//! LISTEN). A notification is only a hint to re-check the change marker, so its payload is
//! ignored and a burst coalesces into one wake-up. When the connection breaks, notifications
//! sent meanwhile are lost for good: the task reports `connected: false` (the caller keeps
//! polling), reconnects with exponential backoff, and bumps the generation once listening
//! again so the caller re-checks whatever it may have missed.

use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::watch;

use super::CONNECT_TIMEOUT;
use crate::feed::{ChangeFeed, FeedState};

/// Channel the schema's triggers notify.
pub(crate) const CHANNEL: &str = "portcullis_changes";
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const WARN_EVERY: Duration = Duration::from_secs(30);

/// Starts a listener task; `None` outside a tokio runtime (polling then does all the work).
pub(super) fn spawn(options: PgConnectOptions) -> Option<ChangeFeed> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let (tx, rx) = watch::channel(FeedState::default());
    runtime.spawn(run(options, tx));
    Some(ChangeFeed::new(rx))
}

enum Ended {
    /// The subscriber dropped its feed.
    Unsubscribed,
    /// The connection broke after listening successfully.
    Lost,
}

async fn run(options: PgConnectOptions, tx: watch::Sender<FeedState>) {
    let mut backoff = MIN_BACKOFF;
    let mut last_warn: Option<Instant> = None;
    loop {
        match listen(&options, &tx).await {
            Ok(Ended::Unsubscribed) => return,
            Ok(Ended::Lost) => {
                backoff = MIN_BACKOFF;
                tracing::info!("change feed connection lost; polling until it is back");
            }
            Err(e) => {
                if last_warn.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                    last_warn = Some(Instant::now());
                    tracing::warn!(cause = %e, retry_in = ?backoff, "cannot listen for store changes");
                }
            }
        }
        tx.send_if_modified(|s| std::mem::replace(&mut s.connected, false));
        tokio::select! {
            () = tx.closed() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn listen(
    options: &PgConnectOptions,
    tx: &watch::Sender<FeedState>,
) -> Result<Ended, sqlx::Error> {
    // A private one-connection pool: PgListener needs a pool to draw its connection from.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(CONNECT_TIMEOUT)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(options.clone());
    let mut listener = PgListener::connect_with(&pool).await?;
    // Reconnection is ours (with backoff and a generation bump), not the driver's.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    tx.send_modify(|s| {
        s.generation += 1;
        s.connected = true;
    });
    loop {
        tokio::select! {
            () = tx.closed() => return Ok(Ended::Unsubscribed),
            note = listener.try_recv() => match note? {
                Some(_) => tx.send_modify(|s| s.generation += 1),
                None => return Ok(Ended::Lost),
            },
        }
    }
}
