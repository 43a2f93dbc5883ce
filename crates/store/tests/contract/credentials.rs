//! Credentials on every backend: a consumer key and secret shown once and stored only as
//! keyed hashes, rotation with an overlap, revocation, and the grep test over a full dump of
//! the database.

use std::time::{Duration, SystemTime};

use portcullis_store::{
    ApprovalStatus, ApprovalType, CONSUMER_SECRET_MARKER, CredentialSpec, KEY_MARKER, KeyLookup,
    KeyStatus, SecretKey,
};
use sha2::{Digest, Sha256};

use super::catalog::{
    actor, app, conflict, dev, invalid, not_found, open_product, snapshot, stale, with_products,
};
use super::harness::TestDb;
use crate::kvm::{contains_secret, dump, open_store};
use crate::test_keyring;

pub(crate) async fn credentials_issue_a_key_and_secret_once(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    store
        .create_product(a, "gold", &open_product(ApprovalType::Auto))
        .await
        .unwrap();
    store
        .create_product(a, "silver", &open_product(ApprovalType::Manual))
        .await
        .unwrap();
    let shop = store
        .create_developer(a, &dev("ann@example.com"))
        .await
        .unwrap();
    let shop = store
        .create_app(a, &shop.developer.id, &app("shop"))
        .await
        .unwrap();
    let issued = store
        .create_credential(a, &shop.app.id, &with_products(&["silver", "gold"]))
        .await
        .unwrap();
    let (key, secret) = (
        issued.consumer_key.expose(),
        issued.consumer_secret.expose(),
    );
    assert!(key.starts_with(KEY_MARKER) && key.len() == 36, "{key}");
    assert!(secret.starts_with(CONSUMER_SECRET_MARKER) && secret.len() == 36);
    assert_ne!(key[4..], secret[4..]);
    let cred = &issued.credential;
    assert_eq!(cred.key.prefix, issued.consumer_key.prefix());
    assert_eq!((cred.key.status, cred.version), (KeyStatus::Active, 1));
    assert_eq!(
        (
            cred.key.app_name.as_str(),
            cred.key.developer_email.as_str()
        ),
        ("shop", "ann@example.com")
    );
    let statuses: Vec<_> = cred
        .products
        .iter()
        .map(|p| (p.product.as_str(), p.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("gold", ApprovalStatus::Approved),
            ("silver", ApprovalStatus::Pending)
        ],
        "auto starts approved, manual pending; listed by name"
    );
    assert_eq!(&store.get_credential(&cred.key.id).await.unwrap(), cred);
    assert_eq!(&store.get_credential(&cred.key.prefix).await.unwrap(), cred);
    assert_eq!(
        store.list_credentials(&shop.app.id).await.unwrap(),
        vec![cred.clone()]
    );
    for shown in [format!("{issued:?}"), format!("{cred:?}")] {
        assert!(
            !shown.contains(&key[12..]) && !shown.contains(&secret[12..]),
            "{shown}"
        );
    }
    // The index knows the key by its keyed hash, never the secret.
    let creds = store.load_credentials().await.unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0].key_hash, test_keyring().hash_credential(key));
    let index = snapshot(&store).await;
    assert!(index.lookup(key, SystemTime::now()).is_valid());
    assert!(matches!(
        index.lookup(secret, SystemTime::now()),
        KeyLookup::Unknown
    ));

    // Errors: each names what was wrong, and none leaves a credential behind.
    let msg = invalid(
        store
            .create_credential(
                a,
                &shop.app.id,
                &CredentialSpec {
                    products: vec!["gold".into(), "bad name".into(), "gold".into()],
                    expires_at: Some(SystemTime::now() - Duration::from_secs(1)),
                },
            )
            .await,
    );
    for field in ["products[1]: ", "products[2]: duplicate", "expires_at: "] {
        assert!(msg.contains(field), "{field} in {msg}");
    }
    assert_eq!(
        not_found(
            store
                .create_credential(a, &shop.app.id, &with_products(&["gold", "platinum"]))
                .await
        ),
        "product"
    );
    assert_eq!(
        not_found(
            store
                .create_credential(a, "app_missing", &with_products(&[]))
                .await
        ),
        "app"
    );
    assert_eq!(
        not_found(store.get_credential("pcl_missing0").await),
        "credential"
    );
    assert_eq!(
        not_found(store.list_credentials("app_missing").await),
        "app"
    );
    assert_eq!(store.list_credentials(&shop.app.id).await.unwrap().len(), 1);
    // A pasted full key is not echoed back.
    let err = store.get_credential(key).await.unwrap_err().to_string();
    assert!(!err.contains(&key[12..]), "{err}");
}

pub(crate) async fn rotation_keeps_the_old_key_until_its_expiry(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    store
        .create_product(a, "gold", &open_product(ApprovalType::Auto))
        .await
        .unwrap();
    store
        .create_product(a, "silver", &open_product(ApprovalType::Manual))
        .await
        .unwrap();
    let d = store
        .create_developer(a, &dev("ann@example.com"))
        .await
        .unwrap();
    let shop = store
        .create_app(a, &d.developer.id, &app("shop"))
        .await
        .unwrap();
    let old = store
        .create_credential(a, &shop.app.id, &with_products(&["gold", "silver"]))
        .await
        .unwrap();
    let cutover = SystemTime::now() + Duration::from_secs(300);
    let new = store
        .rotate_credential(a, &old.credential.key.prefix, cutover)
        .await
        .unwrap();
    assert_ne!(new.credential.key.id, old.credential.key.id);
    assert_eq!(
        new.credential.products, old.credential.products,
        "same products and approvals"
    );
    assert_eq!(
        new.credential.key.expires_at, None,
        "the old one never expired, nor does this"
    );
    let old_now = store.get_credential(&old.credential.key.id).await.unwrap();
    assert_eq!(old_now.version, 2);
    let stored = old_now.key.expires_at.expect("old key now expires");
    assert!(
        stored
            .duration_since(cutover)
            .unwrap_or_else(|e| e.duration())
            < Duration::from_millis(1)
    );

    // Both work until the cut-over; afterwards only the new one.
    let index = snapshot(&store).await;
    let now = SystemTime::now();
    let (old_key, new_key) = (old.consumer_key.expose(), new.consumer_key.expose());
    assert!(index.lookup(old_key, now).is_valid());
    let fresh = index.lookup(new_key, now);
    assert!(fresh.is_valid(), "{fresh:?}");
    let entry = fresh.entry().unwrap();
    assert_eq!(entry.products.len(), 2);
    let later = cutover + Duration::from_millis(1);
    assert!(matches!(
        index.lookup(old_key, later),
        KeyLookup::Expired(_)
    ));
    assert!(index.lookup(new_key, later).is_valid());

    // A key with a lifetime passes it on; the old one is never extended, nor ends in the past.
    let limited = store
        .create_credential(
            a,
            &shop.app.id,
            &CredentialSpec {
                products: vec![],
                expires_at: Some(SystemTime::now() + Duration::from_secs(3600)),
            },
        )
        .await
        .unwrap();
    let limited_exp = limited.credential.key.expires_at.unwrap();
    let far = SystemTime::now() + Duration::from_secs(86_400);
    let next = store
        .rotate_credential(a, &limited.credential.key.id, far)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_credential(&limited.credential.key.id)
            .await
            .unwrap()
            .key
            .expires_at,
        Some(limited_exp)
    );
    let lifetime = next
        .credential
        .key
        .expires_at
        .unwrap()
        .duration_since(next.credential.key.created_at)
        .unwrap();
    assert!(
        lifetime.abs_diff(Duration::from_secs(3600)) < Duration::from_secs(1),
        "{lifetime:?}"
    );
    let before = SystemTime::now();
    let immediate = store
        .rotate_credential(
            a,
            &next.credential.key.id,
            before - Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let ended = store
        .get_credential(&next.credential.key.id)
        .await
        .unwrap()
        .key
        .expires_at
        .unwrap();
    assert!(
        ended >= before - Duration::from_millis(1),
        "clamped to the rotation time"
    );
    assert!(immediate.credential.key.expires_at.is_some());

    // Revoked credentials and revoked apps cannot be rotated.
    store
        .revoke_credential(a, &immediate.credential.key.id, None)
        .await
        .unwrap();
    conflict(
        store
            .rotate_credential(a, &immediate.credential.key.id, far)
            .await,
    );
    store.revoke_app(&shop.app.id).await.unwrap();
    conflict(
        store
            .rotate_credential(a, &new.credential.key.id, far)
            .await,
    );
    assert_eq!(
        not_found(store.rotate_credential(a, "key_missing", far).await),
        "credential"
    );
}

pub(crate) async fn revoking_a_credential_is_versioned_and_idempotent(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    let d = store
        .create_developer(a, &dev("ann@example.com"))
        .await
        .unwrap();
    let shop = store
        .create_app(a, &d.developer.id, &app("shop"))
        .await
        .unwrap();
    let c = store
        .create_credential(a, &shop.app.id, &with_products(&[]))
        .await
        .unwrap();
    assert_eq!(
        stale(
            store
                .revoke_credential(a, &c.credential.key.id, Some(3))
                .await
        ),
        1
    );
    let revoked = store
        .revoke_credential(a, &c.credential.key.prefix, Some(1))
        .await
        .unwrap();
    assert_eq!(
        (revoked.key.status, revoked.version),
        (KeyStatus::Revoked, 2)
    );
    assert!(revoked.key.revoked_at.is_some());
    let seq = store.change_seq().await.unwrap();
    assert_eq!(
        store
            .revoke_credential(a, &c.credential.key.id, None)
            .await
            .unwrap(),
        revoked
    );
    assert_eq!(
        store.change_seq().await.unwrap(),
        seq,
        "revoking twice changes nothing"
    );
    let index = snapshot(&store).await;
    assert!(matches!(
        index.lookup(c.consumer_key.expose(), SystemTime::now()),
        KeyLookup::Revoked(_)
    ));
    let msg = invalid(store.revoke_credential(a, "  ", None).await);
    assert!(!msg.is_empty());
}

/// The grep test: after issuing and rotating credentials, no byte of the database (SQLite
/// files with WAL, or every PostgreSQL row as text) holds a consumer key or secret, in plain
/// text or as an unkeyed SHA-256 (hashes are keyed, so a dump cannot even confirm a guess).
pub(crate) async fn no_key_or_secret_is_stored_in_plain_text(db: TestDb) {
    let store = open_store(&db).await;
    let a = &actor();
    store
        .create_product(a, "gold", &open_product(ApprovalType::Auto))
        .await
        .unwrap();
    let d = store
        .create_developer(a, &dev("ann@example.com"))
        .await
        .unwrap();
    let shop = store
        .create_app(a, &d.developer.id, &app("shop"))
        .await
        .unwrap();
    let mut secrets: Vec<SecretKey> = Vec::new();
    for _ in 0..3 {
        let c = store
            .create_credential(a, &shop.app.id, &with_products(&["gold"]))
            .await
            .unwrap();
        let r = store
            .rotate_credential(
                a,
                &c.credential.key.id,
                SystemTime::now() + Duration::from_secs(60),
            )
            .await
            .unwrap();
        secrets.extend([
            c.consumer_key,
            c.consumer_secret,
            r.consumer_key,
            r.consumer_secret,
        ]);
    }
    let (_, legacy) = store.create_key(&shop.app.id, None).await.unwrap();
    secrets.push(legacy);
    let bytes = dump(&db).await;
    let prefix = secrets[0].prefix().as_bytes();
    assert!(
        contains_secret(&bytes, prefix),
        "the dump must hold the public prefixes"
    );
    for s in &secrets {
        let plain = s.expose().as_bytes();
        assert!(
            !contains_secret(&bytes, plain),
            "plaintext of {:?} in the dump",
            s.prefix()
        );
        assert!(
            !contains_secret(&bytes, &plain[4..]),
            "random part of {:?}",
            s.prefix()
        );
        let unkeyed: [u8; 32] = Sha256::digest(plain).into();
        assert!(
            !contains_secret(&bytes, &unkeyed),
            "unkeyed SHA-256 of {:?}",
            s.prefix()
        );
    }
    // What is stored is the keyed hash (found as such), so the gateway can still check it.
    let keyed = test_keyring().hash_credential(secrets[1].expose());
    assert!(
        contains_secret(&bytes, keyed.as_bytes()),
        "the consumer secret's keyed hash"
    );
}
