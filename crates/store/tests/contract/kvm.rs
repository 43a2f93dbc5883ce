//! Encrypted key-value maps on every backend: CRUD with versions, isolation by environment,
//! ciphertexts that only open in their own row and under their own master key, audit entries
//! without values. Also the raw-database helpers the admin cases share (copying rows behind
//! the store's back, dumping every byte the database holds).

use std::sync::Arc;

use portcullis_store::{
    Actor, AuditFilter, Keyring, KvmEntryInfo, PageRequest, PgStore, SqliteStore, Store, StoreError,
};
use sqlx::{Connection, Executor, Row};

use super::harness::TestDb;
use crate::test_keyring;

/// A handle with every repository trait (what the admin API holds).
pub(crate) async fn open_store(db: &TestDb) -> Arc<dyn Store> {
    open_store_with(db, test_keyring()).await
}

/// A handle opened with a given master key.
pub(crate) async fn open_store_with(db: &TestDb, keyring: Arc<Keyring>) -> Arc<dyn Store> {
    match db {
        TestDb::Sqlite(path) => Arc::new(SqliteStore::open(path, keyring).await.unwrap()),
        TestDb::Postgres { url, .. } => Arc::new(PgStore::connect(url, keyring).await.unwrap()),
    }
}

/// Creates the environments KVM entries live in (as boot-time provisioning does).
pub(crate) async fn with_environments(store: &Arc<dyn Store>, names: &[&str]) {
    for name in names {
        store
            .ensure_environment(&Actor::system(), name)
            .await
            .unwrap();
    }
}

/// Runs one statement directly against the test database, bypassing the store.
pub(crate) async fn raw_exec(db: &TestDb, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match db {
        TestDb::Sqlite(path) => {
            let url = format!("sqlite://{}", path.display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            conn.execute(sql).await.unwrap();
        }
        TestDb::Postgres { url, .. } => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            conn.execute(sql).await.unwrap();
        }
    }
}

/// Everything the database holds, as bytes: the SQLite file with its WAL and shared-memory
/// files, or every row of every table in the test's PostgreSQL schema rendered as text (bytea
/// columns render as hex, so callers also look for the hex form of a secret).
pub(crate) async fn dump(db: &TestDb) -> Vec<u8> {
    match db {
        TestDb::Sqlite(path) => {
            let mut all = Vec::new();
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let file = format!("{}{suffix}", path.display());
                if let Ok(bytes) = std::fs::read(&file) {
                    all.extend_from_slice(&bytes);
                }
            }
            assert!(!all.is_empty(), "the SQLite database files must exist");
            all
        }
        TestDb::Postgres { url, schema } => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let tables: Vec<String> = sqlx::query(
                "SELECT table_name::text AS t FROM information_schema.tables \
                 WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
            )
            .bind(schema)
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("t"))
            .collect();
            assert!(tables.iter().any(|t| t == "kvm_entries"), "{tables:?}");
            let mut all = Vec::new();
            for table in tables {
                let sql = format!("SELECT CAST(x AS TEXT) AS row FROM \"{table}\" x");
                for row in sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap()
                {
                    all.extend_from_slice(row.get::<String, _>("row").as_bytes());
                    all.push(b'\n');
                }
            }
            all
        }
    }
}

/// Whether `needle` (or its lower-case hex form) occurs anywhere in `haystack`.
pub(crate) fn contains_secret(haystack: &[u8], needle: &[u8]) -> bool {
    let hex: String = needle.iter().map(|b| format!("{b:02x}")).collect();
    let found = |n: &[u8]| !n.is_empty() && haystack.windows(n.len()).any(|w| w == n);
    found(needle) || found(hex.as_bytes())
}

fn actor() -> Actor {
    Actor("admin:root".into())
}

fn field_of(err: StoreError) -> String {
    match err {
        StoreError::Invalid(msg) => msg.split(':').next().unwrap().to_owned(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

pub(crate) async fn kvm_put_get_list_delete_with_versions(db: TestDb) {
    let store = open_store(&db).await;
    with_environments(&store, &["prod", "test"]).await;
    let a = &actor();
    let first = store
        .kvm_put(a, "prod", "backend", "db/password", "hunter2-prod", None)
        .await
        .unwrap();
    assert_eq!(
        (
            first.environment.as_str(),
            first.map.as_str(),
            first.key.as_str()
        ),
        ("prod", "backend", "db/password")
    );
    assert_eq!(first.version, 1);
    let (info, value) = store
        .kvm_get("prod", "backend", "db/password")
        .await
        .unwrap();
    assert_eq!((info, value.as_str()), (first.clone(), "hunter2-prod"));

    let second = store
        .kvm_put(a, "prod", "backend", "db/password", "rotated", Some(1))
        .await
        .unwrap();
    assert_eq!(second.version, 2);
    assert!(second.updated_at >= first.updated_at);
    match store
        .kvm_put(a, "prod", "backend", "db/password", "lost update", Some(1))
        .await
    {
        Err(StoreError::Stale { current, .. }) => assert_eq!(current, 2),
        other => panic!("expected Stale, got {other:?}"),
    }
    assert_eq!(
        store
            .kvm_get("prod", "backend", "db/password")
            .await
            .unwrap()
            .1,
        "rotated",
        "a stale write changes nothing"
    );
    // Unconditional writes replace; a version on a missing entry is refused.
    assert_eq!(
        store
            .kvm_put(a, "prod", "backend", "db/password", "third", None)
            .await
            .unwrap()
            .version,
        3
    );
    assert!(matches!(
        store
            .kvm_put(a, "prod", "backend", "nope", "v", Some(1))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    match store.kvm_put(a, "staging", "backend", "k", "v", None).await {
        Err(StoreError::NotFound { entity, .. }) => assert_eq!(entity, "environment"),
        other => panic!("an unknown environment must be NotFound, got {other:?}"),
    }

    store
        .kvm_put(a, "prod", "backend", "api-token", "tok", None)
        .await
        .unwrap();
    store
        .kvm_put(a, "prod", "flags", "beta", "on", None)
        .await
        .unwrap();
    let names = |list: Vec<KvmEntryInfo>| -> Vec<String> {
        list.into_iter()
            .map(|e| format!("{}/{}", e.map, e.key))
            .collect()
    };
    assert_eq!(
        names(store.kvm_list("prod", Some("backend")).await.unwrap()),
        ["backend/api-token", "backend/db/password"]
    );
    assert_eq!(
        names(store.kvm_list("prod", None).await.unwrap()),
        ["backend/api-token", "backend/db/password", "flags/beta"]
    );

    match store
        .kvm_delete(a, "prod", "backend", "db/password", Some(2))
        .await
    {
        Err(StoreError::Stale { current, .. }) => assert_eq!(current, 3),
        other => panic!("expected Stale, got {other:?}"),
    }
    store
        .kvm_delete(a, "prod", "backend", "db/password", Some(3))
        .await
        .unwrap();
    assert!(matches!(
        store.kvm_get("prod", "backend", "db/password").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .kvm_delete(a, "prod", "backend", "db/password", None)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        names(store.kvm_list("prod", None).await.unwrap()),
        ["backend/api-token", "flags/beta"]
    );

    // Validation names the field and happens before anything is written.
    let bad = |e: Result<KvmEntryInfo, StoreError>| field_of(e.unwrap_err());
    assert_eq!(
        bad(store.kvm_put(a, "Prod", "m", "k", "v", None).await),
        "environment"
    );
    assert_eq!(
        bad(store.kvm_put(a, "prod", "a/b", "k", "v", None).await),
        "map"
    );
    assert_eq!(
        bad(store.kvm_put(a, "prod", "m", "", "v", None).await),
        "key"
    );
    let huge = "x".repeat(64 * 1024 + 1);
    assert_eq!(
        bad(store.kvm_put(a, "prod", "m", "k", &huge, None).await),
        "value"
    );
    let max = "x".repeat(64 * 1024);
    store
        .kvm_put(a, "prod", "m", "k", &max, None)
        .await
        .unwrap();
    assert_eq!(
        store.kvm_get("prod", "m", "k").await.unwrap().1.len(),
        max.len()
    );
}

pub(crate) async fn kvm_environments_are_isolated(db: TestDb) {
    let store = open_store(&db).await;
    with_environments(&store, &["prod", "test"]).await;
    let a = &actor();
    store
        .kvm_put(a, "prod", "creds", "db", "prod-secret", None)
        .await
        .unwrap();
    store
        .kvm_put(a, "test", "creds", "db", "test-secret", None)
        .await
        .unwrap();
    store
        .kvm_put(a, "test", "creds", "only-test", "t", None)
        .await
        .unwrap();
    assert_eq!(
        store.kvm_get("prod", "creds", "db").await.unwrap().1,
        "prod-secret"
    );
    assert_eq!(
        store.kvm_get("test", "creds", "db").await.unwrap().1,
        "test-secret"
    );
    assert!(matches!(
        store.kvm_get("prod", "creds", "only-test").await,
        Err(StoreError::NotFound { .. })
    ));
    let prod = store.kvm_load_environment("prod").await.unwrap();
    assert_eq!(
        prod.iter()
            .map(|(i, v)| (i.key.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        [("db", "prod-secret")]
    );
    assert_eq!(store.kvm_load_environment("test").await.unwrap().len(), 2);
    assert!(
        store
            .kvm_load_environment("staging")
            .await
            .unwrap()
            .is_empty()
    );
    store
        .kvm_delete(a, "test", "creds", "db", None)
        .await
        .unwrap();
    assert_eq!(
        store.kvm_get("prod", "creds", "db").await.unwrap().1,
        "prod-secret"
    );
}

pub(crate) async fn kvm_ciphertexts_only_open_in_their_own_row(db: TestDb) {
    let store = open_store(&db).await;
    with_environments(&store, &["prod", "test"]).await;
    let a = &actor();
    store
        .kvm_put(a, "prod", "creds", "db", "prod-secret", None)
        .await
        .unwrap();
    store
        .kvm_put(a, "test", "creds", "db", "test-secret", None)
        .await
        .unwrap();
    // Someone with write access to the database moves the prod ciphertext into test's row.
    raw_exec(
        &db,
        "UPDATE kvm_entries SET ciphertext = (SELECT ciphertext FROM kvm_entries \
         WHERE environment = 'prod' AND map = 'creds' AND key = 'db') \
         WHERE environment = 'test' AND map = 'creds' AND key = 'db'",
    )
    .await;
    assert!(matches!(
        store.kvm_get("test", "creds", "db").await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.kvm_load_environment("test").await,
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(
        store.kvm_get("prod", "creds", "db").await.unwrap().1,
        "prod-secret"
    );
    // Renaming a row does not help either: the address is bound into the ciphertext.
    raw_exec(
        &db,
        "UPDATE kvm_entries SET key = 'moved' WHERE environment = 'prod' AND key = 'db'",
    )
    .await;
    assert!(matches!(
        store.kvm_get("prod", "creds", "moved").await,
        Err(StoreError::Corrupt(_))
    ));
}

pub(crate) async fn kvm_values_need_the_right_master_key(db: TestDb) {
    let store = open_store(&db).await;
    with_environments(&store, &["prod", "test"]).await;
    store
        .kvm_put(&actor(), "prod", "creds", "db", "prod-secret", None)
        .await
        .unwrap();
    let other = open_store_with(&db, Arc::new(Keyring::from_master(&[9; 32]))).await;
    // Metadata stays readable (it is not secret); the value does not.
    assert_eq!(other.kvm_list("prod", None).await.unwrap().len(), 1);
    assert!(matches!(
        other.kvm_get("prod", "creds", "db").await,
        Err(StoreError::Corrupt(_))
    ));
    let err = other.kvm_load_environment("prod").await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains("prod-secret"));
}

pub(crate) async fn kvm_writes_are_audited_without_values(db: TestDb) {
    let store = open_store(&db).await;
    with_environments(&store, &["prod", "test"]).await;
    let a = &actor();
    store
        .kvm_put(a, "prod", "creds", "db", "audit-me-not-1", None)
        .await
        .unwrap();
    store
        .kvm_put(a, "prod", "creds", "db", "audit-me-not-2", Some(1))
        .await
        .unwrap();
    store
        .kvm_delete(a, "prod", "creds", "db", Some(2))
        .await
        .unwrap();
    // A refused write leaves no entry.
    let _ = store.kvm_put(a, "prod", "creds", "db", "x", Some(7)).await;
    let filter = AuditFilter {
        entity: Some("kvm".into()),
        ..AuditFilter::default()
    };
    let page = store
        .list_audit(&filter, &PageRequest::default())
        .await
        .unwrap();
    let actions: Vec<&str> = page.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["delete", "update", "create"], "newest first");
    for e in &page.items {
        assert_eq!(
            (e.actor.as_str(), e.entity_id.as_str()),
            ("admin:root", "prod/creds/db")
        );
    }
    let update = &page.items[1];
    assert_eq!(update.before.as_ref().unwrap()["version"], 1);
    assert_eq!(update.after.as_ref().unwrap()["version"], 2);
    assert!(page.items[0].after.is_none() && page.items[2].before.is_none());
    let text = format!("{:?}", page.items);
    assert!(!text.contains("audit-me-not"), "{text}");
}
