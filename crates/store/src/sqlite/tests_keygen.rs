//! Prefix-collision handling in `create_key`, with a forced key generator.

use super::SqliteStore;
use crate::secret::SecretKey;
use crate::sql::repo::create_key_with;
use crate::{KeyRepository, KeyStatus, StoreError};

#[tokio::test]
async fn a_colliding_prefix_draws_a_new_key() {
    let store = SqliteStore::open_in_memory(std::sync::Arc::new(crate::Keyring::ephemeral()))
        .await
        .unwrap();
    let app = store.ensure_app("a@example.com", "shop").await.unwrap();
    let first = "pcl_SAMEPFX1aaaaaaaaaaaaaaaaaaaaaaaa";
    let clash = "pcl_SAMEPFX1bbbbbbbbbbbbbbbbbbbbbbbb";
    let fresh = "pcl_OTHERPFXcccccccccccccccccccccccc";
    let mut once = Some(first);
    let (_, k1) = create_key_with(&store, &app.id, None, &mut || {
        Ok(SecretKey::from_plaintext(once.take().unwrap()))
    })
    .await
    .unwrap();
    assert_eq!(k1.expose(), first);

    let mut queue = vec![fresh, clash];
    let mut calls = 0;
    let (rec, k2) = create_key_with(&store, &app.id, None, &mut || {
        calls += 1;
        Ok(SecretKey::from_plaintext(queue.pop().unwrap()))
    })
    .await
    .unwrap();
    assert_eq!(calls, 2, "the clashing key must be discarded");
    assert_eq!(k2.expose(), fresh);
    assert_eq!(rec.prefix, "pcl_OTHERPFX");
    assert_eq!(rec.status, KeyStatus::Active);

    let keys = store.list_keys(None).await.unwrap();
    let prefixes: Vec<_> = keys.iter().map(|k| k.prefix.as_str()).collect();
    assert_eq!(prefixes.len(), 2);
    assert!(prefixes.contains(&"pcl_SAMEPFX1") && prefixes.contains(&"pcl_OTHERPFX"));
}

#[tokio::test]
async fn endless_collisions_give_up_with_conflict_and_write_nothing() {
    let store = SqliteStore::open_in_memory(std::sync::Arc::new(crate::Keyring::ephemeral()))
        .await
        .unwrap();
    let app = store.ensure_app("a@example.com", "shop").await.unwrap();
    let key = "pcl_STUCKPFXaaaaaaaaaaaaaaaaaaaaaaaa";
    create_key_with(&store, &app.id, None, &mut || {
        Ok(SecretKey::from_plaintext(key))
    })
    .await
    .unwrap();
    let seq = store.change_seq().await.unwrap();
    let err = create_key_with(&store, &app.id, None, &mut || {
        Ok(SecretKey::from_plaintext(key))
    })
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.change_seq().await.unwrap(), seq);
    assert_eq!(store.list_keys(None).await.unwrap().len(), 1);
}
