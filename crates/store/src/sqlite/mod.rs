//! SQLite backend: the embedded default, one file created on first run.
//!
//! Several processes share the file (the gateway serves while the `portcullis keys` CLI
//! writes), so the connection setup is chosen for that: WAL lets readers proceed during a
//! write, a 5 s busy timeout absorbs short lock waits, write transactions start with
//! `BEGIN IMMEDIATE` so two writers queue instead of failing on a stale snapshot, and a
//! dedicated "watch" connection answers `PRAGMA data_version`, which only moves when *another*
//! connection commits and is only meaningful when asked on the same connection each time.

#[cfg(test)]
mod tests_keygen;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Sqlite, Transaction};
use tokio::sync::{Mutex, watch};

use crate::model::ChangeMarker;
use crate::sql::backend::{Backend, read_seq};
use crate::sql::{EmbeddedMigration, SqlRow, map_err, run_migrations};
use crate::{Keyring, StoreError};

crate::sql::sqlx_adapter!(Sqlite, SqliteConnection, SqliteRow);
crate::sql::delegate::impl_key_repository!(SqliteStore);
crate::sql::delegate_catalog::impl_catalog_repository!(SqliteStore);
crate::sql::delegate_admin::impl_admin_repositories!(SqliteStore);
crate::sql::delegate_oauth::impl_oauth_repository!(SqliteStore);

/// Embedded migrations (see [`crate::sql`] for why not `sqlx::migrate!`).
const MIGRATIONS: &[EmbeddedMigration] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "management",
        include_str!("../../migrations/sqlite/0002_management.sql"),
    ),
    (
        3,
        "kvm_admin",
        include_str!("../../migrations/sqlite/0003_kvm_admin.sql"),
    ),
    (
        4,
        "oauth",
        include_str!("../../migrations/sqlite/0004_oauth.sql"),
    ),
    (
        5,
        "oauth_assertions",
        include_str!("../../migrations/sqlite/0005_oauth_assertions.sql"),
    ),
    (
        6,
        "oauth_federation",
        include_str!("../../migrations/sqlite/0006_oauth_federation.sql"),
    ),
];

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const POOL_SIZE: u32 = 4;

/// Key storage in a SQLite database. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Dedicated connection for `change_marker` (see module docs); `None` once closed.
    watch_conn: Arc<Mutex<Option<SqliteConnection>>>,
    local_tx: Arc<watch::Sender<i64>>,
    keyring: Arc<Keyring>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// Whether an error is SQLite's "database is locked" (SQLITE_BUSY and its extended codes).
fn is_busy(err: &StoreError) -> bool {
    let StoreError::Unavailable(source) = err else {
        return false;
    };
    source
        .downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
        .and_then(|d| d.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

/// How hard a commit waits for the disk (SQLite `PRAGMA synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL` (the default): every commit flushes the WAL, so a committed write
    /// (an issued token, a new credential) survives a process crash *and* a power loss.
    #[default]
    Full,
    /// `synchronous=NORMAL`: commits only write the WAL; it is flushed at checkpoints. A
    /// committed write survives a crash of the process, but the last transactions before a
    /// power loss or OS crash may be lost (the database stays consistent). Fewer flushes:
    /// faster writes, e.g. the token endpoint's group commits.
    Normal,
}

impl SqliteStore {
    /// Opens (creating if missing, with parent directories) the database at `path` and brings
    /// its schema up to date. `keyring` hashes credentials and encrypts secrets at rest.
    pub async fn open(path: &Path, keyring: Arc<Keyring>) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, keyring, Durability::Full).await
    }

    /// [`open`](Self::open) with a chosen commit [`Durability`].
    pub async fn open_with(
        path: &Path,
        keyring: Arc<Keyring>,
        durability: Durability,
    ) -> Result<SqliteStore, StoreError> {
        prepare_file(path)?;
        // Two processes opening a fresh file at once (gateway and CLI) race to switch it to WAL;
        // SQLite answers that switch with SQLITE_BUSY at once instead of waiting for the busy
        // timeout, so the whole open is retried for a short while.
        let mut attempt: u32 = 0;
        loop {
            match Self::open_once(path, Arc::clone(&keyring), durability).await {
                Err(e) if attempt < 20 && is_busy(&e) => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(
                        25 * u64::from(attempt.min(4)),
                    ))
                    .await;
                }
                result => return result,
            }
        }
    }

    async fn open_once(
        path: &Path,
        keyring: Arc<Keyring>,
        durability: Durability,
    ) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(options.clone())
            .await
            .map_err(StoreError::unavailable)?;
        Self::finish_open(pool, options, keyring).await
    }

    /// A private in-memory database, for tests. A plain `:memory:` database exists per
    /// connection, so this uses a uniquely named shared-cache database and keeps connections
    /// alive for the store's lifetime (the database vanishes with its last connection).
    pub async fn open_in_memory(keyring: Arc<Keyring>) -> Result<SqliteStore, StoreError> {
        // The `file:` URI form is what makes SQLite key the shared cache by name.
        let name = format!("file:{}", crate::secret::new_id("portcullis-mem")?);
        let options = SqliteConnectOptions::new()
            .filename(name)
            .in_memory(true)
            .shared_cache(true)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(StoreError::unavailable)?;
        Self::finish_open(pool, options, keyring).await
    }

    async fn finish_open(
        pool: SqlitePool,
        options: SqliteConnectOptions,
        keyring: Arc<Keyring>,
    ) -> Result<SqliteStore, StoreError> {
        run_migrations(MIGRATIONS, &pool).await?;
        let watch_conn = options.connect().await.map_err(StoreError::unavailable)?;
        let store = SqliteStore {
            pool,
            watch_conn: Arc::new(Mutex::new(Some(watch_conn))),
            local_tx: Arc::new(watch::channel(0).0),
            keyring,
        };
        let seq = crate::sql::backend::change_seq(&store).await?;
        store.local_tx.send_replace(seq);
        Ok(store)
    }

    /// Closes every connection. Later calls fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(conn) = self.watch_conn.lock().await.take() {
            // Closing is best effort: the connection is dropped either way.
            let _ = conn.close().await;
        }
    }

    async fn watch_marker(&self) -> Result<ChangeMarker, StoreError> {
        let mut guard = self.watch_conn.lock().await;
        let conn = guard
            .as_mut()
            .ok_or_else(|| StoreError::unavailable(std::io::Error::other("store is closed")))?;
        let backend_version = crate::sql::SqlConn::fetch_opt(conn, "PRAGMA data_version", &[])
            .await?
            .ok_or_else(|| StoreError::Corrupt("data_version returned no row".into()))?
            .int("data_version")?;
        let seq = read_seq(conn).await?;
        Ok(ChangeMarker {
            seq,
            backend_version,
        })
    }
}

/// Creates parent directories and, on Unix, the file itself with mode 0600: the database
/// holds no plaintext keys, but hashes and the developer list are still nobody else's business.
fn prepare_file(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(StoreError::unavailable)?;
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::unavailable(e)),
    }
}

#[async_trait]
impl Backend for SqliteStore {
    type Conn = SqliteConnection;
    type Tx = Transaction<'static, Sqlite>;
    type Read = PoolConnection<Sqlite>;

    fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// `BEGIN IMMEDIATE` takes the write lock up front, so two writers queue on the busy
    /// timeout instead of one failing later on a stale read snapshot.
    async fn begin_write(&self) -> Result<Self::Tx, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)
    }

    async fn commit_tx(tx: Self::Tx) -> Result<(), StoreError> {
        tx.commit().await.map_err(map_err)
    }

    async fn read_conn(&self) -> Result<Self::Read, StoreError> {
        self.pool.acquire().await.map_err(map_err)
    }

    fn publish_local(&self, seq: i64) {
        crate::sql::backend::publish_seq(&self.local_tx, seq);
    }

    fn subscribe_local(&self) -> watch::Receiver<i64> {
        self.local_tx.subscribe()
    }

    async fn marker(&self) -> Result<ChangeMarker, StoreError> {
        self.watch_marker().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_registered() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        crate::sql::assert_registered(dir, MIGRATIONS);
    }

    #[tokio::test]
    async fn reopening_an_existing_file_keeps_data_and_skips_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/keys.db");
        let store = SqliteStore::open(&path, Arc::new(Keyring::ephemeral()))
            .await
            .unwrap();
        use crate::KeyRepository;
        store.ensure_developer("a@example.com", "A").await.unwrap();
        store.close().await;
        let again = SqliteStore::open(&path, Arc::new(Keyring::ephemeral()))
            .await
            .unwrap();
        assert_eq!(again.change_seq().await.unwrap(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "database must not be group/world readable");
        }
    }

    #[tokio::test]
    async fn closed_store_reports_unavailable() {
        let store = SqliteStore::open_in_memory(Arc::new(Keyring::ephemeral()))
            .await
            .unwrap();
        store.close().await;
        assert!(matches!(
            store.watch_marker().await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
