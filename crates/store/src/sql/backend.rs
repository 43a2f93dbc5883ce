//! What each SQL backend must supply: transactions under its writer lock, read connections,
//! the change marker and the in-process seq channel. Everything else about `KeyRepository`
//! is backend-neutral and lives in [`super::repo`].

use std::ops::DerefMut;

use async_trait::async_trait;
use tokio::sync::watch;

use super::{SqlConn, SqlRow};
use crate::StoreError;
use crate::feed::ChangeFeed;
use crate::model::ChangeMarker;

/// What a backend supplies.
#[async_trait]
pub(crate) trait Backend: Send + Sync {
    type Conn: SqlConn;
    /// An open write transaction; dropping it rolls back.
    type Tx: DerefMut<Target = Self::Conn> + Send;
    /// A connection for reads.
    type Read: DerefMut<Target = Self::Conn> + Send;

    /// The keys for hashing credentials and encrypting secrets at rest.
    fn keyring(&self) -> &crate::Keyring;
    /// Starts a write transaction holding the backend's writer lock.
    async fn begin_write(&self) -> Result<Self::Tx, StoreError>;
    async fn commit_tx(tx: Self::Tx) -> Result<(), StoreError>;
    async fn read_conn(&self) -> Result<Self::Read, StoreError>;
    /// Tells in-process listeners that `seq` is committed.
    fn publish_local(&self, seq: i64);
    fn subscribe_local(&self) -> watch::Receiver<i64>;
    async fn marker(&self) -> Result<ChangeMarker, StoreError>;
    fn change_feed(&self) -> Option<ChangeFeed> {
        None
    }
}

/// Raises the announced seq, never lowers it (commits may be announced out of order).
pub(crate) fn publish_seq(tx: &watch::Sender<i64>, seq: i64) {
    tx.send_if_modified(|cur| {
        let newer = seq > *cur;
        if newer {
            *cur = seq;
        }
        newer
    });
}

pub(crate) const SEQ_SELECT: &str = "SELECT COALESCE(MAX(seq), 0) AS seq FROM change_log";

pub(crate) async fn change_seq<B: Backend>(b: &B) -> Result<i64, StoreError> {
    let mut conn = b.read_conn().await?;
    read_seq(&mut *conn).await
}

pub(crate) async fn read_seq<C: SqlConn + ?Sized>(conn: &mut C) -> Result<i64, StoreError> {
    conn.fetch_opt(SEQ_SELECT, &[])
        .await?
        .ok_or_else(|| StoreError::Corrupt("change log seq query returned no row".into()))?
        .int("seq")
}
