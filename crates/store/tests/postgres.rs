//! PostgreSQL-only behaviour: propagation between gateway nodes through LISTEN/NOTIFY (with
//! measured delays), the polling fallback when the listen connection drops, fail-fast on an
//! unreachable server, hand edits, and what the rows hold. Each test uses a fresh schema.

#[path = "contract/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use harness::{TestDb, WITHIN, eventually, run_postgres, start_index};
use portcullis_store::{DEFAULT_POLL, KeyIndex, KeyLookup, KeyRepository, PgStore, StoreError};
use sqlx::{Connection, PgConnection, Row};

/// One fixed master key for every handle in this test binary, so handles agree on hashes.
fn test_keyring() -> std::sync::Arc<portcullis_store::Keyring> {
    std::sync::Arc::new(portcullis_store::Keyring::from_master(&[5; 32]))
}

fn url(db: &TestDb) -> &str {
    match db {
        TestDb::Postgres { url, .. } => url,
        TestDb::Sqlite(_) => unreachable!("postgres-only test"),
    }
}

struct Node {
    store: Arc<dyn KeyRepository>,
    index: Arc<KeyIndex>,
}

async fn node(db: &TestDb, poll: Duration) -> Node {
    let store = db.open().await;
    let index = start_index(Arc::clone(&store), poll).await;
    Node { store, index }
}

/// One key created then revoked by `writer`, timing until `reader`'s index reflects each.
async fn round(app: &str, writer: &Node, reader: &Node, delays: &mut Vec<Duration>) {
    let (rec, secret) = writer.store.create_key(app, None).await.unwrap();
    delays.push(eventually(&reader.index, secret.expose(), KeyLookup::is_valid).await);
    writer.store.revoke_key(&rec.prefix).await.unwrap();
    let revoked = |l: &KeyLookup| matches!(l, KeyLookup::Revoked(_));
    delays.push(eventually(&reader.index, secret.expose(), revoked).await);
}

fn summary(label: &str, delays: &mut [Duration]) -> Duration {
    delays.sort();
    let pick = |q: f64| delays[((delays.len() as f64 * q).ceil() as usize).max(1) - 1];
    let (p50, p99, max) = (pick(0.5), pick(0.99), delays[delays.len() - 1]);
    eprintln!(
        "{label}: {} changes, p50 {p50:?}, p99 {p99:?}, max {max:?}",
        delays.len()
    );
    p99
}

/// Two nodes polling every `poll`; `rounds` keys created and revoked, by both nodes in turn
/// or by the first only. Returns the p99 delay until the other node's index reflected it.
async fn propagation(db: &TestDb, poll: Duration, rounds: usize, label: &str) -> Duration {
    let a = node(db, poll).await;
    let b = node(db, poll).await;
    let app = a.store.ensure_app("a@example.com", "shop").await.unwrap();
    let mut delays = Vec::new();
    for i in 0..rounds {
        let (writer, reader) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        round(&app.id, writer, reader, &mut delays).await;
    }
    summary(label, &mut delays)
}

async fn two_nodes_see_each_others_changes(db: TestDb) {
    let p99 = propagation(
        &db,
        DEFAULT_POLL,
        25,
        "two-node propagation (LISTEN + 250 ms poll)",
    )
    .await;
    assert!(p99 <= Duration::from_secs(1), "p99 {p99:?}");
}

async fn notifications_alone_deliver_changes(db: TestDb) {
    // Polling an hour apart: only NOTIFY can bring the changes in time.
    let p99 = propagation(
        &db,
        Duration::from_secs(3600),
        10,
        "two-node propagation (LISTEN only)",
    )
    .await;
    assert!(p99 <= Duration::from_secs(1), "p99 {p99:?}");
}

async fn terminate_listeners(db: &TestDb) -> u64 {
    let TestDb::Postgres { schema, .. } = db else {
        unreachable!()
    };
    let mut admin = PgConnection::connect(url(db)).await.unwrap();
    let killed = sqlx::query(
        "SELECT count(*) AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND query LIKE 'LISTEN%') t",
    )
    .bind(schema)
    .fetch_one(&mut admin)
    .await
    .unwrap()
    .get::<i64, _>("n");
    u64::try_from(killed).unwrap()
}

async fn a_dropped_listen_connection_falls_back_to_polling_and_reconnects(db: TestDb) {
    let writer = db.open().await;
    let reader = node(&db, DEFAULT_POLL).await;
    let mut feed = writer
        .subscribe_changes()
        .expect("postgres has a change feed");
    let deadline = Instant::now() + Duration::from_secs(3);
    while !feed.state().connected {
        assert!(Instant::now() < deadline, "feed never connected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let app = writer.ensure_app("a@example.com", "shop").await.unwrap();
    assert!(
        terminate_listeners(&db).await >= 2,
        "both listeners were found"
    );

    // Whatever state the feeds are in, the reader's poll still brings the change.
    let (rec, secret) = writer.create_key(&app.id, None).await.unwrap();
    eventually(&reader.index, secret.expose(), KeyLookup::is_valid).await;

    let before = feed.state().generation;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = feed.state();
        if state.connected && state.generation > before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "feed did not reconnect: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reconnected = feed.state().generation;
    writer.revoke_key(&rec.prefix).await.unwrap();
    tokio::time::timeout(WITHIN, feed.changed())
        .await
        .expect("notified after reconnect");
    assert!(feed.state().generation > reconnected);
    eventually(&reader.index, secret.expose(), |l| {
        matches!(l, KeyLookup::Revoked(_))
    })
    .await;
}

async fn a_hand_edit_is_noticed(db: TestDb) {
    let gw = node(&db, Duration::from_secs(3600)).await;
    let app = gw.store.ensure_app("a@example.com", "shop").await.unwrap();
    let (_, secret) = gw.store.create_key(&app.id, None).await.unwrap();
    eventually(&gw.index, secret.expose(), KeyLookup::is_valid).await;
    // An operator in psql: no change_log row, only the data_version trigger (and its NOTIFY).
    let mut raw = PgConnection::connect(url(&db)).await.unwrap();
    sqlx::query("UPDATE developers SET status = 'inactive'")
        .execute(&mut raw)
        .await
        .unwrap();
    eventually(&gw.index, secret.expose(), |l| {
        matches!(l, KeyLookup::DeveloperInactive(_))
    })
    .await;
}

async fn rows_hold_only_the_hash(db: TestDb) {
    let store = db.open().await;
    let app = store.ensure_app("a@example.com", "shop").await.unwrap();
    let (_, secret) = store.create_key(&app.id, None).await.unwrap();
    let mut raw = PgConnection::connect(url(&db)).await.unwrap();
    let row = sqlx::query("SELECT t::text AS whole, key_hash FROM api_keys t")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    let whole: String = row.get("whole");
    assert!(
        !whole.contains(&secret.expose()[12..]),
        "a column leaks the key"
    );
    let hash: Vec<u8> = row.get("key_hash");
    assert_eq!(
        hash,
        test_keyring()
            .hash_credential(secret.expose())
            .as_bytes()
            .to_vec()
    );
}

macro_rules! pg_tests {
    ($($case:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            run_postgres(super::$case).await;
        }
    )+};
}

mod postgres {
    pg_tests!(
        two_nodes_see_each_others_changes,
        notifications_alone_deliver_changes,
        a_dropped_listen_connection_falls_back_to_polling_and_reconnects,
        a_hand_edit_is_noticed,
        rows_hold_only_the_hash,
    );
    use super::run_postgres;
}

#[tokio::test]
async fn an_unreachable_server_fails_fast_with_unavailable() {
    // Port 1 refuses at once; 192.0.2.1 (TEST-NET-1) usually swallows packets, which is the
    // case the connect timeout exists for.
    for url in [
        "postgres://postgres@127.0.0.1:1/test",
        "postgres://postgres@192.0.2.1:5432/test",
    ] {
        let started = Instant::now();
        let err = PgStore::connect(url, test_keyring()).await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, StoreError::Unavailable(_)), "{url}: {err:?}");
        assert!(took < Duration::from_millis(2500), "{url}: took {took:?}");
        eprintln!("{url}: unavailable after {took:?}");
    }
    let _ = SystemTime::now();
}
