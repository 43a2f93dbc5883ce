//! IndexSync behaviour every backend must show: another handle's writes reach the index
//! within a second, the writer's own handle skips the poll interval, and an unreadable
//! database leaves the last snapshot serving.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use portcullis_store::{DEFAULT_POLL, IndexSync, KeyIndex, KeyLookup};

use super::harness::{TestDb, WITHIN, eventually, start_index};
use crate::test_keyring;

pub(crate) async fn a_second_handle_sees_creates_and_revokes(db: TestDb) {
    let index = start_index(db.open().await, DEFAULT_POLL).await;
    let cli = db.open().await;

    let app = cli.ensure_app("a@example.com", "shop").await.unwrap();
    let (rec, secret) = cli.create_key(&app.id, None).await.unwrap();
    let seq = cli.change_seq().await.unwrap();
    let started = Instant::now();
    tokio::time::timeout(WITHIN, index.wait_for_seq(seq))
        .await
        .expect("create seen");
    let took = started.elapsed();
    match index.lookup(secret.expose(), SystemTime::now()) {
        KeyLookup::Valid(e) => {
            assert_eq!(
                (&*e.prefix, e.key_id.as_str()),
                (rec.prefix.as_str(), rec.id.as_str())
            );
            assert_eq!(
                (&*e.app_name, &*e.developer_email),
                ("shop", "a@example.com")
            );
        }
        other => panic!("expected Valid, got {other:?}"),
    }

    cli.revoke_key(&rec.prefix).await.unwrap();
    let took_revoke = eventually(&index, secret.expose(), |l| {
        matches!(l, KeyLookup::Revoked(_))
    })
    .await;
    // A key revoked on its own reports that first, so the app cascade is checked on another.
    let (_, other) = cli.create_key(&app.id, None).await.unwrap();
    eventually(&index, other.expose(), KeyLookup::is_valid).await;
    cli.revoke_app(&app.id).await.unwrap();
    eventually(&index, other.expose(), |l| {
        matches!(l, KeyLookup::AppRevoked(_))
    })
    .await;
    eprintln!("cross-handle propagation: create {took:?}, revoke {took_revoke:?}");
}

pub(crate) async fn writes_through_the_same_handle_skip_the_poll_interval(db: TestDb) {
    let store = db.open().await;
    // A poll interval far beyond the deadline: only a notification can make it.
    let index = start_index(Arc::clone(&store), Duration::from_secs(3600)).await;
    let app = store.ensure_app("a@example.com", "shop").await.unwrap();
    let (_, secret) = store.create_key(&app.id, None).await.unwrap();
    let seq = store.change_seq().await.unwrap();
    tokio::time::timeout(WITHIN, index.wait_for_seq(seq))
        .await
        .expect("notified");
    assert!(index.lookup(secret.expose(), SystemTime::now()).is_valid());
    store.revoke_app(&app.id).await.unwrap();
    eventually(&index, secret.expose(), |l| {
        matches!(l, KeyLookup::AppRevoked(_))
    })
    .await;
}

pub(crate) async fn the_change_marker_moves_when_another_handle_writes(db: TestDb) {
    let (a, b) = (db.open().await, db.open().await);
    let before = a.change_marker().await.unwrap();
    assert_eq!(
        before,
        a.change_marker().await.unwrap(),
        "reads alone do not move it"
    );
    let app = b.ensure_app("a@example.com", "shop").await.unwrap();
    let after = a.change_marker().await.unwrap();
    assert_ne!(before, after);
    assert_eq!(after.seq, b.change_seq().await.unwrap());
    b.ensure_app("a@example.com", "shop").await.unwrap();
    b.revoke_app(&app.id).await.unwrap();
    assert!(a.change_marker().await.unwrap().seq > after.seq);
}

pub(crate) async fn an_unreadable_database_keeps_the_last_snapshot_serving(db: TestDb) {
    let handle = db.open_handle().await;
    let store = handle.repo();
    let app = store.ensure_app("a@example.com", "shop").await.unwrap();
    let (_, secret) = store.create_key(&app.id, None).await.unwrap();
    let index = Arc::new(KeyIndex::with_keyring(test_keyring()));
    let task = IndexSync::spawn(
        Arc::clone(&store),
        Arc::clone(&index),
        Duration::from_millis(20),
    );
    eventually(&index, secret.expose(), KeyLookup::is_valid).await;

    handle.close().await;
    let started = Instant::now();
    let err = store.change_marker().await.unwrap_err();
    assert!(
        matches!(err, portcullis_store::StoreError::Unavailable(_)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3), "fails fast");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !task.is_finished(),
        "the sync task must survive storage errors"
    );
    assert!(index.lookup(secret.expose(), SystemTime::now()).is_valid());
    assert_eq!(index.len(), 1);
    task.abort();
}
