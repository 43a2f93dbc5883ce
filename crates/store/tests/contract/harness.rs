//! Opens the backends the contract suite runs against, each test on a private database:
//! a temporary SQLite file, or a fresh PostgreSQL schema (dropped afterwards) so tests run in
//! parallel without seeing each other's rows.
//!
//! PostgreSQL is optional on a developer machine: if it cannot be reached the PG half of the
//! suite prints `SKIPPED: ...` and passes, unless `PORTCULLIS_REQUIRE_POSTGRES=1` (set in CI)
//! turns that into a failure, so CI can never go green by silently testing one backend.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::test_keyring;
use portcullis_store::{IndexSync, KeyIndex, KeyLookup, KeyRepository, PgStore, SqliteStore};
use sqlx::{Connection, Executor, PgConnection};

/// Where the PG tests connect unless `PORTCULLIS_TEST_PG_URL` says otherwise.
const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// How long index convergence may take (invariant 1: about a second).
pub(crate) const WITHIN: Duration = Duration::from_secs(1);

/// A private database for one test; `open` gives independent handles onto it, as separate
/// processes or gateway nodes would have.
#[derive(Clone, Debug)]
pub(crate) enum TestDb {
    Sqlite(std::path::PathBuf),
    Postgres { url: String, schema: String },
}

/// A handle plus its concrete type, for the few cases that need `close()`.
pub(crate) enum Handle {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

impl Handle {
    pub(crate) fn repo(&self) -> Arc<dyn KeyRepository> {
        match self {
            Handle::Sqlite(s) => s.clone(),
            Handle::Postgres(s) => s.clone(),
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Handle::Sqlite(s) => s.close().await,
            Handle::Postgres(s) => s.close().await,
        }
    }
}

impl TestDb {
    pub(crate) async fn open(&self) -> Arc<dyn KeyRepository> {
        self.open_handle().await.repo()
    }

    pub(crate) async fn open_handle(&self) -> Handle {
        match self {
            TestDb::Sqlite(path) => Handle::Sqlite(Arc::new(
                SqliteStore::open(path, test_keyring()).await.unwrap(),
            )),
            TestDb::Postgres { url, .. } => Handle::Postgres(Arc::new(
                PgStore::connect(url, test_keyring()).await.unwrap(),
            )),
        }
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres { .. })
    }
}

pub(crate) async fn run_sqlite<F, Fut>(case: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    case(TestDb::Sqlite(dir.path().join("keys.db"))).await;
}

fn base_url() -> String {
    std::env::var("PORTCULLIS_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// An admin connection to the test server, or `None` (after printing why) when the PG tests
/// are to be skipped.
pub(crate) async fn admin_connection() -> Option<PgConnection> {
    let url = base_url();
    let attempt = tokio::time::timeout(Duration::from_secs(2), PgConnection::connect(&url)).await;
    let err = match attempt {
        Ok(Ok(conn)) => return Some(conn),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "connect timed out after 2s".to_owned(),
    };
    let msg = format!("SKIPPED: PostgreSQL not reachable at 127.0.0.1:5432 ({err})");
    if std::env::var("PORTCULLIS_REQUIRE_POSTGRES").as_deref() == Ok("1") {
        panic!("{msg}, and PORTCULLIS_REQUIRE_POSTGRES=1");
    }
    eprintln!("{msg}");
    None
}

/// Runs `case` against a fresh schema, dropping it afterwards even if the case panicked.
pub(crate) async fn run_postgres<F, Fut>(case: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(mut admin) = admin_connection().await else {
        return;
    };
    let schema = format!("t_{:016x}", rand::random::<u64>());
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .unwrap();
    // search_path and application_name travel in the startup packet, so every connection a
    // store opens (pool, listener, reconnects) lands in the schema.
    let base = base_url();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}application_name={schema}&options=-c%20search_path%3D{schema}");
    let outcome = tokio::spawn(case(TestDb::Postgres {
        url,
        schema: schema.clone(),
    }))
    .await;
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Polls `lookup` until `pred` holds, failing after [`WITHIN`]; returns the time it took.
pub(crate) async fn eventually(
    index: &KeyIndex,
    key: &str,
    pred: impl Fn(&KeyLookup) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        if pred(&index.lookup(key, SystemTime::now())) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < WITHIN,
            "index did not converge within {WITHIN:?}: {:?}",
            index.lookup(key, SystemTime::now())
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Starts an [`IndexSync`] on `store` (as a gateway node does) and waits for its first load.
pub(crate) async fn start_index(store: Arc<dyn KeyRepository>, poll: Duration) -> Arc<KeyIndex> {
    let index = Arc::new(KeyIndex::with_keyring(test_keyring()));
    IndexSync::spawn(store, Arc::clone(&index), poll);
    tokio::time::timeout(WITHIN, index.wait_for_seq(0))
        .await
        .expect("initial load");
    index
}
