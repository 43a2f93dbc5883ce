//! Repository behaviour every backend must show: the developer → app → key model, key
//! secrecy, typed errors, expiry, cascades and concurrent writers.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use portcullis_store::{
    AppStatus, DeveloperStatus, IndexSync, KeyIndex, KeyLookup, KeyRepository, KeyStatus,
    StoreError,
};

use super::harness::TestDb;
use crate::test_keyring;

async fn fresh_index(store: &dyn KeyRepository) -> KeyIndex {
    let index = KeyIndex::with_keyring(test_keyring());
    IndexSync::refresh(store, &index).await.unwrap();
    index
}

pub(crate) async fn create_list_revoke_round_trip(db: TestDb) {
    let store = db.open().await;
    let app = store.ensure_app("Ann@Example.com", "shop").await.unwrap();
    assert_eq!(app.status, AppStatus::Approved);
    let same = store.ensure_app("ann@example.com", " shop ").await.unwrap();
    assert_eq!(same.id, app.id, "ensure_app must be idempotent");
    let dev = store
        .ensure_developer("ANN@example.com", "Ann")
        .await
        .unwrap();
    assert_eq!(
        (dev.email.as_str(), dev.id.as_str()),
        ("ann@example.com", app.developer_id.as_str())
    );
    assert_eq!(dev.status, DeveloperStatus::Active);
    assert_eq!(
        store.find_app("ann@example.com", "shop").await.unwrap(),
        app
    );

    let (rec, secret) = store.create_key(&app.id, None).await.unwrap();
    assert_eq!(rec.prefix, secret.prefix());
    assert_eq!(
        (rec.app_name.as_str(), rec.developer_email.as_str()),
        ("shop", "ann@example.com")
    );
    assert_eq!(rec.status, KeyStatus::Active);
    assert_eq!((rec.expires_at, rec.revoked_at), (None, None));

    assert_eq!(store.list_keys(None).await.unwrap(), vec![rec.clone()]);
    assert_eq!(
        store.list_keys(Some("shop")).await.unwrap(),
        vec![rec.clone()]
    );
    assert_eq!(
        store.list_keys(Some(&app.id)).await.unwrap(),
        vec![rec.clone()]
    );
    assert!(store.list_keys(Some("other")).await.unwrap().is_empty());

    let revoked = store.revoke_key(&rec.prefix).await.unwrap();
    assert_eq!(revoked.status, KeyStatus::Revoked);
    assert!(revoked.revoked_at.is_some());
    let seq = store.change_seq().await.unwrap();
    let again = store.revoke_key(&rec.id).await.unwrap();
    assert_eq!(again, revoked, "revoking twice changes nothing");
    assert_eq!(
        store.change_seq().await.unwrap(),
        seq,
        "no-op writes are not logged"
    );
    assert_eq!(store.list_keys(None).await.unwrap(), vec![revoked]);
}

pub(crate) async fn prefixes_identify_keys_and_filters_match_id_or_name(db: TestDb) {
    let store = db.open().await;
    let shop = store.ensure_app("a@example.com", "shop").await.unwrap();
    let blog = store.ensure_app("a@example.com", "blog").await.unwrap();
    let (k1, s1) = store.create_key(&shop.id, None).await.unwrap();
    let (k2, _) = store.create_key(&shop.id, None).await.unwrap();
    let (k3, _) = store.create_key(&blog.id, None).await.unwrap();
    assert!(s1.expose().starts_with(&k1.prefix) && k1.prefix.starts_with("pcl_"));
    assert_eq!(k1.prefix.len(), 12);
    let ids = |v: Vec<portcullis_store::KeyRecord>| v.into_iter().map(|k| k.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_keys(None).await.unwrap()),
        [k1.id.clone(), k2.id.clone(), k3.id.clone()]
    );
    assert_eq!(
        ids(store.list_keys(Some("shop")).await.unwrap()),
        [k1.id.clone(), k2.id.clone()]
    );
    assert_eq!(
        ids(store.list_keys(Some(&blog.id)).await.unwrap()),
        vec![k3.id.clone()]
    );

    // Surrounding whitespace is tolerated; a shortened or lower-cased prefix is not a match.
    assert_eq!(
        store
            .revoke_key(&format!(" {} ", k2.prefix))
            .await
            .unwrap()
            .id,
        k2.id
    );
    for wrong in [&k1.prefix[..11], &k1.prefix.to_lowercase()] {
        if wrong == k1.prefix {
            continue;
        }
        assert!(matches!(
            store.revoke_key(wrong).await,
            Err(StoreError::NotFound {
                entity: "api key",
                ..
            })
        ));
    }
    let statuses: Vec<_> = store
        .list_keys(None)
        .await
        .unwrap()
        .iter()
        .map(|k| k.status)
        .collect();
    assert_eq!(
        statuses,
        [KeyStatus::Active, KeyStatus::Revoked, KeyStatus::Active]
    );
}

pub(crate) async fn errors_are_typed_and_do_not_echo_secrets(db: TestDb) {
    let store = db.open().await;
    let app = store.ensure_app("a@example.com", "shop").await.unwrap();
    let (_, secret) = store.create_key(&app.id, None).await.unwrap();

    // Pasting the full key where a prefix belongs must not put the key into the message.
    let err = store.revoke_key(secret.expose()).await.unwrap_err();
    assert!(matches!(
        err,
        StoreError::NotFound {
            entity: "api key",
            ..
        }
    ));
    assert!(!err.to_string().contains(secret.expose()), "{err}");
    assert!(matches!(
        store.revoke_key("  ").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.create_key("app_missing", None).await,
        Err(StoreError::NotFound { entity: "app", .. })
    ));
    assert!(matches!(
        store.ensure_developer("not-an-email", "x").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.ensure_app("a@example.com", "").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.find_app("a@example.com", "nope").await,
        Err(StoreError::NotFound { entity: "app", .. })
    ));
    assert!(matches!(
        store
            .set_developer_status("nobody@example.com", DeveloperStatus::Inactive)
            .await,
        Err(StoreError::NotFound {
            entity: "developer",
            ..
        })
    ));
    assert!(matches!(
        store.revoke_app("app_missing").await,
        Err(StoreError::NotFound { entity: "app", .. })
    ));
    store.revoke_app(&app.id).await.unwrap();
    let err = store.create_key(&app.id, None).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    for err in [err, store.revoke_key("pcl_missing0").await.unwrap_err()] {
        let text = format!("{err}").to_lowercase();
        assert!(
            !text.contains("select") && !text.contains("insert"),
            "SQL leaked: {err}"
        );
    }
}

pub(crate) async fn key_is_shown_once_and_only_its_hash_is_stored(db: TestDb) {
    let store = db.open().await;
    let app = store.ensure_app("a@example.com", "shop").await.unwrap();
    let (rec, secret) = store.create_key(&app.id, None).await.unwrap();
    let plaintext = secret.expose().to_owned();
    assert!(
        !format!("{secret:?}").contains(&plaintext[12..]),
        "Debug must redact the key"
    );
    // Nothing read back can reproduce the plaintext; only its SHA-256 comes back.
    let listed = format!("{:?}", store.list_keys(None).await.unwrap());
    assert!(!listed.contains(&plaintext[12..]));
    let creds = store.load_credentials().await.unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(
        creds[0].key_hash,
        test_keyring().hash_credential(&plaintext)
    );
    assert_eq!(
        (creds[0].key_id.as_str(), &*creds[0].prefix),
        (rec.id.as_str(), rec.prefix.as_str())
    );
    assert!(!format!("{:?}", creds[0]).contains(&plaintext[12..]));
}

pub(crate) async fn expiry_is_stored_and_enforced_by_the_index(db: TestDb) {
    let store = db.open().await;
    let app = store.ensure_app("a@example.com", "shop").await.unwrap();
    let now = SystemTime::now();
    assert!(matches!(
        store
            .create_key(&app.id, Some(now - Duration::from_secs(1)))
            .await,
        Err(StoreError::Invalid(_))
    ));
    let expires = now + Duration::from_secs(3600);
    let (rec, secret) = store.create_key(&app.id, Some(expires)).await.unwrap();
    let stored = rec.expires_at.unwrap();
    let drift = stored
        .duration_since(expires)
        .unwrap_or_else(|e| e.duration());
    assert!(
        drift < Duration::from_millis(1),
        "stored with millisecond precision"
    );
    assert_eq!(
        store.list_keys(None).await.unwrap()[0].expires_at,
        Some(stored)
    );

    let index = fresh_index(store.as_ref()).await;
    assert!(index.lookup(secret.expose(), now).is_valid());
    assert!(
        index
            .lookup(secret.expose(), stored - Duration::from_millis(1))
            .is_valid()
    );
    assert!(matches!(
        index.lookup(secret.expose(), stored),
        KeyLookup::Expired(_)
    ));
    assert!(matches!(
        index.lookup(secret.expose(), now + Duration::from_secs(7200)),
        KeyLookup::Expired(_)
    ));
}

pub(crate) async fn revoking_an_app_or_deactivating_a_developer_refuses_their_keys(db: TestDb) {
    let store = db.open().await;
    let shop = store.ensure_app("a@example.com", "shop").await.unwrap();
    let blog = store.ensure_app("a@example.com", "blog").await.unwrap();
    let other = store.ensure_app("b@example.com", "shop").await.unwrap();
    assert_ne!(other.id, shop.id, "app names are unique per developer only");
    let (_, k_shop) = store.create_key(&shop.id, None).await.unwrap();
    let (_, k_blog) = store.create_key(&blog.id, None).await.unwrap();
    let (_, k_other) = store.create_key(&other.id, None).await.unwrap();
    let now = SystemTime::now();

    assert_eq!(
        store.revoke_app(&shop.id).await.unwrap().status,
        AppStatus::Revoked
    );
    let index = fresh_index(store.as_ref()).await;
    assert!(matches!(
        index.lookup(k_shop.expose(), now),
        KeyLookup::AppRevoked(_)
    ));
    assert!(index.lookup(k_blog.expose(), now).is_valid());

    store
        .set_app_status(&shop.id, AppStatus::Approved)
        .await
        .unwrap();
    let dev = store
        .set_developer_status("A@example.com", DeveloperStatus::Inactive)
        .await
        .unwrap();
    assert_eq!(dev.status, DeveloperStatus::Inactive);
    let index = fresh_index(store.as_ref()).await;
    for k in [&k_shop, &k_blog] {
        match index.lookup(k.expose(), now) {
            KeyLookup::DeveloperInactive(e) => assert_eq!(&*e.developer_email, "a@example.com"),
            other => panic!("expected DeveloperInactive, got {other:?}"),
        }
    }
    assert!(index.lookup(k_other.expose(), now).is_valid());

    let seq = store.change_seq().await.unwrap();
    store
        .set_developer_status(&dev.id, DeveloperStatus::Inactive)
        .await
        .unwrap();
    assert_eq!(
        store.change_seq().await.unwrap(),
        seq,
        "unchanged status is not logged"
    );
    store
        .set_developer_status(&dev.id, DeveloperStatus::Active)
        .await
        .unwrap();
    let index = fresh_index(store.as_ref()).await;
    assert!(index.lookup(k_shop.expose(), now).is_valid());
}

pub(crate) async fn concurrent_writers_on_two_handles_all_succeed(db: TestDb) {
    let (a, b) = (db.open().await, db.open().await);
    let app = a.ensure_app("a@example.com", "shop").await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
        let app_id = app.id.clone();
        tasks.push(tokio::spawn(async move {
            store.create_key(&app_id, None).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(b.list_keys(None).await.unwrap().len(), 40);
    // 2 entities (developer, app) + 40 keys, each logged exactly once.
    assert_eq!(a.change_seq().await.unwrap(), 42);
}

pub(crate) async fn concurrent_ensures_of_one_name_create_it_once(db: TestDb) {
    let (a, b) = (db.open().await, db.open().await);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let store = Arc::clone(if i % 2 == 0 { &a } else { &b });
        tasks.push(tokio::spawn(async move {
            store.ensure_app("race@example.com", "shop").await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every caller gets the same app");
    assert_eq!(
        a.change_seq().await.unwrap(),
        2,
        "one developer and one app logged"
    );
}

pub(crate) async fn two_handles_opening_a_fresh_database_at_once_both_succeed(db: TestDb) {
    // Gateway and CLI started together on a first run race to create the schema.
    let (a, b) = tokio::join!(db.open(), db.open());
    let app = a.ensure_app("a@example.com", "shop").await.unwrap();
    assert_eq!(b.find_app("a@example.com", "shop").await.unwrap(), app);
}
