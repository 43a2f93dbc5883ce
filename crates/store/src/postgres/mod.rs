//! PostgreSQL backend: for clusters of gateway nodes sharing one database.
//!
//! What it guards against:
//! - **Out-of-order change-log seqs.** PostgreSQL hands out identity values at insert time, so
//!   two concurrent writers could commit seq 6 before seq 5 and a poller that saw 6 would
//!   never reload for 5. Every write transaction therefore takes one advisory lock first
//!   (writes are rare admin operations; queuing them costs nothing on the request path).
//! - **Hanging on a dead database.** Connecting and acquiring a connection give up after
//!   [`CONNECT_TIMEOUT`] with [`StoreError::Unavailable`]; the gateway's index keeps serving
//!   its last snapshot meanwhile (see [`crate::IndexSync`]).
//! - **Slow propagation between nodes.** Triggers NOTIFY `portcullis_changes` on every
//!   change; [`KeyRepository::subscribe_changes`](crate::KeyRepository::subscribe_changes)
//!   listens (see [`listen`]) so other nodes reload within milliseconds, while polling stays on
//!   as the fallback.

mod listen;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Postgres, Transaction};
use tokio::sync::watch;

use crate::feed::ChangeFeed;
use crate::model::ChangeMarker;
use crate::sql::backend::{Backend, change_seq, publish_seq};
use crate::sql::{Arg, EmbeddedMigration, SqlConn, SqlRow, map_err, run_migrations};
use crate::{Keyring, StoreError};

crate::sql::sqlx_adapter!(Postgres, PgConnection, PgRow);
crate::sql::delegate::impl_key_repository!(PgStore);
crate::sql::delegate_catalog::impl_catalog_repository!(PgStore);
crate::sql::delegate_admin::impl_admin_repositories!(PgStore);
crate::sql::delegate_oauth::impl_oauth_repository!(PgStore);

const MIGRATIONS: &[EmbeddedMigration] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "management",
        include_str!("../../migrations/postgres/0002_management.sql"),
    ),
    (
        3,
        "kvm_admin",
        include_str!("../../migrations/postgres/0003_kvm_admin.sql"),
    ),
    (
        4,
        "oauth",
        include_str!("../../migrations/postgres/0004_oauth.sql"),
    ),
    (
        5,
        "oauth_assertions",
        include_str!("../../migrations/postgres/0005_oauth_assertions.sql"),
    ),
    (
        6,
        "oauth_federation",
        include_str!("../../migrations/postgres/0006_oauth_federation.sql"),
    ),
];

/// Upper bound for establishing or acquiring a connection before reporting `Unavailable`.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const POOL_SIZE: u32 = 8;
/// Arbitrary constant naming the store's writer lock (`pg_advisory_xact_lock` key space is
/// per database; "pcl_wrt" in ASCII).
const WRITE_LOCK: i64 = 0x0070_636c_5f77_7274;
/// A writer stuck behind another for this long reports `Unavailable` instead of hanging.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '5s'";

/// Key storage in a PostgreSQL database. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    options: PgConnectOptions,
    local_tx: Arc<watch::Sender<i64>>,
    keyring: Arc<Keyring>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection options hold the password; never print them.
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db?options=...`) and brings the schema
    /// up to date. Fails with `Invalid` for a malformed URL (the URL is not echoed: it may hold
    /// a password) and with `Unavailable` if the server cannot be reached within
    /// `CONNECT_TIMEOUT` (2 s).
    /// `keyring` hashes credentials and encrypts secrets at rest; every node of a cluster must
    /// use the same master key.
    pub async fn connect(url: &str, keyring: Arc<Keyring>) -> Result<PgStore, StoreError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|_| StoreError::Invalid("the PostgreSQL URL could not be parsed".into()))?;
        Self::connect_with(options, keyring).await
    }

    /// Private so no sqlx type appears in the public API; `connect` is the way in.
    async fn connect_with(
        options: PgConnectOptions,
        keyring: Arc<Keyring>,
    ) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with(options.clone());
        // One direct connection first: a refused or unroutable address fails here with the
        // driver's own cause (the pool would retry until its timeout and report only that),
        // bounded even if the TCP handshake hangs.
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
            .await
            .map_err(StoreError::unavailable)?
            .map_err(map_err)?;
        // Closing is best effort: the probe has done its job either way.
        let _ = sqlx::Connection::close(probe).await;
        run_migrations(MIGRATIONS, &pool).await?;
        let store = PgStore {
            pool,
            options,
            local_tx: Arc::new(watch::channel(0).0),
            keyring,
        };
        let seq = change_seq(&store).await?;
        store.local_tx.send_replace(seq);
        Ok(store)
    }

    /// Closes every pooled connection. Later calls fail with [`StoreError::Unavailable`].
    /// Change feeds already handed out keep their own connection until dropped.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Backend for PgStore {
    type Conn = PgConnection;
    type Tx = Transaction<'static, Postgres>;
    type Read = PoolConnection<Postgres>;

    fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    async fn begin_write(&self) -> Result<Self::Tx, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        tx.exec(LOCK_TIMEOUT, &[]).await?;
        tx.exec("SELECT pg_advisory_xact_lock($1)", &[Arg::Int(WRITE_LOCK)])
            .await?;
        Ok(tx)
    }

    async fn commit_tx(tx: Self::Tx) -> Result<(), StoreError> {
        tx.commit().await.map_err(map_err)
    }

    async fn read_conn(&self) -> Result<Self::Read, StoreError> {
        self.pool.acquire().await.map_err(map_err)
    }

    fn publish_local(&self, seq: i64) {
        publish_seq(&self.local_tx, seq);
    }

    fn subscribe_local(&self) -> watch::Receiver<i64> {
        self.local_tx.subscribe()
    }

    /// Both values from one statement, so they come from one snapshot.
    async fn marker(&self) -> Result<ChangeMarker, StoreError> {
        let mut conn = self.read_conn().await?;
        let row = conn
            .fetch_opt(
                "SELECT (SELECT COALESCE(MAX(seq), 0) FROM change_log) AS seq, \
                 (SELECT version FROM data_version) AS version",
                &[],
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt("change marker query returned no row".into()))?;
        Ok(ChangeMarker {
            seq: row.int("seq")?,
            backend_version: row.int("version")?,
        })
    }

    fn change_feed(&self) -> Option<ChangeFeed> {
        listen::spawn(self.options.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_registered() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
        crate::sql::assert_registered(dir, MIGRATIONS);
    }

    #[tokio::test]
    async fn malformed_urls_are_invalid_and_not_echoed() {
        let err = PgStore::connect(
            "postgres://user:s3cret@[bad",
            Arc::new(Keyring::ephemeral()),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
        assert!(!format!("{err} {err:?}").contains("s3cret"));
    }
}
