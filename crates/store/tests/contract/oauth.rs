//! The OAuth storage contract on every backend: client authentication against the credential's
//! keyed hashes with approved products only, tokens by hash with their client's state, family
//! revocation, refresh rotation where exactly one of many concurrent rotations wins, single-use
//! codes whose replay revokes their tokens, sealed signing keys with atomic rotation, and
//! argon2id end users.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use portcullis_store::{
    Actor, AppSpec, ApprovalStatus, ApprovalType, CodeUse, CredentialSpec, DeveloperSpec, NewCode,
    NewSigningKey, NewToken, ProductSpec, Rotation, SigningKeyState, Store, StoreError, TokenKind,
};

use super::harness::TestDb;
use super::kvm::open_store;
use crate::test_keyring;

struct Client {
    store: Arc<dyn Store>,
    id: String,
    secret: String,
    credential_id: String,
    app_id: String,
}

async fn client(db: &TestDb) -> Client {
    let store = open_store(db).await;
    let actor = Actor::system();
    store
        .create_developer(
            &actor,
            &DeveloperSpec {
                email: "dev@example.com".into(),
                name: "Dev".into(),
                attributes: Default::default(),
            },
        )
        .await
        .unwrap();
    let app = store
        .create_app(
            &actor,
            "dev@example.com",
            &AppSpec {
                name: "shop".into(),
                callback_urls: vec!["https://shop.example/cb".into()],
                attributes: Default::default(),
            },
        )
        .await
        .unwrap();
    for (name, scopes) in [("orders", vec!["orders.read"]), ("admin", vec!["admin"])] {
        store
            .create_product(
                &actor,
                name,
                &ProductSpec {
                    display_name: name.into(),
                    description: String::new(),
                    apis: vec![],
                    paths: vec!["/**".into()],
                    methods: vec![],
                    environments: vec![],
                    scopes: scopes.into_iter().map(String::from).collect(),
                    quota: None,
                    approval: ApprovalType::Auto,
                    attributes: Default::default(),
                },
            )
            .await
            .unwrap();
    }
    let issued = store
        .create_credential(
            &actor,
            &app.app.id,
            &CredentialSpec {
                products: vec!["orders".into(), "admin".into()],
                expires_at: None,
            },
        )
        .await
        .unwrap();
    store
        .set_credential_product_status(
            &actor,
            &issued.credential.key.id,
            "admin",
            ApprovalStatus::Pending,
            None,
        )
        .await
        .unwrap();
    Client {
        store,
        id: issued.consumer_key.expose().to_owned(),
        secret: issued.consumer_secret.expose().to_owned(),
        credential_id: issued.credential.key.id.clone(),
        app_id: app.app.id.clone(),
    }
}

fn token(c: &Client, plain: &str, kind: TokenKind, family: &str, lifetime: Duration) -> NewToken {
    let now = SystemTime::now();
    NewToken {
        id: format!("tok_{plain}"),
        hash: test_keyring().hash_credential(plain),
        kind,
        format: "opaque".into(),
        credential_id: c.credential_id.clone(),
        subject: Some("sub-1".into()),
        scopes: vec!["orders.read".into()],
        products: vec!["orders".into()],
        issued_at: now,
        expires_at: now + lifetime,
        family_id: family.into(),
        parent_id: None,
        code_id: None,
        cnf_x5t: Some("thumb".into()),
        cnf_jkt: None,
        claims: serde_json::json!({"auth_time": 1})
            .as_object()
            .unwrap()
            .clone(),
    }
}

pub(crate) async fn a_batch_of_tokens_is_stored_whole_or_not_at_all(db: TestDb) {
    let c = client(&db).await;
    // 70 tokens: more than one multi-row INSERT (32 rows each), with every column varying.
    let batch: Vec<NewToken> = (0..70)
        .map(|i| {
            let mut t = token(
                &c,
                &format!("pco_batch_{i}"),
                TokenKind::Access,
                &format!("fam_{i}"),
                Duration::from_secs(60 + i),
            );
            t.subject = (i % 2 == 0).then(|| format!("sub-{i}"));
            t.scopes = vec![format!("scope.{i}")];
            t
        })
        .collect();
    c.store.store_tokens(&batch).await.unwrap();
    for (i, t) in batch.iter().enumerate() {
        let found = c.store.find_token(&t.hash).await.unwrap().unwrap();
        assert_eq!(found.id, t.id);
        assert_eq!(found.scopes, [format!("scope.{i}")]);
        assert_eq!(found.subject, t.subject);
        assert_eq!(found.family_id, t.family_id);
        assert_eq!(found.claims["auth_time"], 1);
    }
    // One duplicate (the last row of the second statement) fails the whole batch.
    let mut again: Vec<NewToken> = (0..40)
        .map(|i| {
            token(
                &c,
                &format!("pco_second_{i}"),
                TokenKind::Access,
                "fam_x",
                Duration::from_secs(60),
            )
        })
        .collect();
    again.push(batch[5].clone());
    assert!(c.store.store_tokens(&again).await.is_err());
    assert!(c.store.find_token(&again[0].hash).await.unwrap().is_none());
}

pub(crate) async fn clients_authenticate_with_their_secret_and_approved_products(db: TestDb) {
    let c = client(&db).await;
    let ok = c
        .store
        .authenticate_oauth_client(&c.id, &c.secret)
        .await
        .unwrap();
    assert_eq!(ok.credential_id, c.credential_id);
    assert_eq!(ok.app_id, c.app_id);
    assert_eq!(ok.callback_urls, ["https://shop.example/cb"]);
    let names: Vec<&str> = ok.products.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["orders"], "pending products are not the client's");
    for (id, secret) in [
        (c.id.as_str(), "pcs_wrong"),
        ("pcl_unknown", c.secret.as_str()),
        (c.secret.as_str(), c.id.as_str()),
    ] {
        assert!(matches!(
            c.store.authenticate_oauth_client(id, secret).await,
            Err(StoreError::Unauthorized)
        ));
    }
    assert_eq!(c.store.oauth_client(&c.id).await.unwrap().app_name, "shop");
    c.store
        .revoke_credential(&Actor::system(), &c.credential_id, None)
        .await
        .unwrap();
    assert!(matches!(
        c.store.authenticate_oauth_client(&c.id, &c.secret).await,
        Err(StoreError::Unauthorized)
    ));
}

pub(crate) async fn tokens_resolve_by_hash_and_follow_their_client(db: TestDb) {
    let c = client(&db).await;
    let t = token(
        &c,
        "pco_a",
        TokenKind::Access,
        "fam_a",
        Duration::from_secs(60),
    );
    c.store
        .store_tokens(std::slice::from_ref(&t))
        .await
        .unwrap();
    let found = c.store.find_token(&t.hash).await.unwrap().unwrap();
    assert!(found.is_active(SystemTime::now()));
    assert_eq!(found.scopes, ["orders.read"]);
    assert_eq!(found.cnf_x5t.as_deref(), Some("thumb"));
    assert_eq!(found.claims["auth_time"], 1);
    assert_eq!(found.owner.as_ref().unwrap().app_id, c.app_id);
    assert!(
        c.store
            .find_token(&test_keyring().hash_credential("pco_b"))
            .await
            .unwrap()
            .is_none()
    );
    // Another client cannot revoke it; its own client can.
    assert_eq!(
        c.store
            .revoke_token(&t.hash, "key_other", false)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        c.store
            .revoke_token(&t.hash, &c.credential_id, false)
            .await
            .unwrap(),
        1
    );
    assert!(
        !c.store
            .find_token(&t.hash)
            .await
            .unwrap()
            .unwrap()
            .is_active(SystemTime::now())
    );
    // Revoking the app makes its tokens inactive without touching them.
    let u = token(
        &c,
        "pco_c",
        TokenKind::Access,
        "fam_c",
        Duration::from_secs(60),
    );
    c.store
        .store_tokens(std::slice::from_ref(&u))
        .await
        .unwrap();
    c.store
        .set_app_status_by(
            &Actor::system(),
            &c.app_id,
            portcullis_store::AppStatus::Revoked,
            None,
        )
        .await
        .unwrap();
    let r = c.store.find_token(&u.hash).await.unwrap().unwrap();
    assert!(r.revoked_at.is_none() && !r.is_active(SystemTime::now()));
}

pub(crate) async fn one_of_many_concurrent_refresh_rotations_wins(db: TestDb) {
    let c = client(&db).await;
    let old = token(
        &c,
        "pcr_old",
        TokenKind::Refresh,
        "fam_r",
        Duration::from_secs(600),
    );
    let sibling = token(
        &c,
        "pco_sib",
        TokenKind::Access,
        "fam_r",
        Duration::from_secs(600),
    );
    c.store
        .store_tokens(&[old.clone(), sibling.clone()])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = c.store.clone();
        let mut next = token(
            &c,
            &format!("pcr_new{i}"),
            TokenKind::Refresh,
            "fam_r",
            Duration::from_secs(600),
        );
        next.parent_id = Some(old.id.clone());
        let old_id = old.id.clone();
        tasks.push(tokio::spawn(async move {
            store.rotate_refresh_token(&old_id, &[next]).await.unwrap()
        }));
    }
    let mut rotated = 0;
    for t in tasks {
        if t.await.unwrap() == Rotation::Rotated {
            rotated += 1;
        }
    }
    assert_eq!(rotated, 1, "exactly one rotation wins");
    // The losers were replays: the whole family (old, new and the sibling access token) is gone.
    for plain in ["pcr_old", "pco_sib"] {
        let r = c
            .store
            .find_token(&test_keyring().hash_credential(plain))
            .await
            .unwrap()
            .unwrap();
        assert!(r.revoked_at.is_some(), "{plain}");
    }
}

pub(crate) async fn codes_are_single_use_and_replays_revoke_their_tokens(db: TestDb) {
    let c = client(&db).await;
    let now = SystemTime::now();
    let code = NewCode {
        id: "code_1".into(),
        hash: test_keyring().hash_credential("pcc_1"),
        credential_id: c.credential_id.clone(),
        subject: "sub".into(),
        user_id: "usr_1".into(),
        scopes: vec!["openid".into()],
        products: vec![],
        redirect_uri: "https://shop.example/cb".into(),
        code_challenge: "challenge".into(),
        nonce: Some("n-1".into()),
        auth_time: now,
        issued_at: now,
        expires_at: now + Duration::from_secs(60),
        family_id: "fam_code".into(),
    };
    c.store.store_code(&code).await.unwrap();
    let CodeUse::First(first) = c.store.consume_code(&code.hash, now).await.unwrap() else {
        panic!("first use");
    };
    assert_eq!(first.nonce.as_deref(), Some("n-1"));
    assert_eq!(first.redirect_uri, "https://shop.example/cb");
    let mut t = token(
        &c,
        "pco_code",
        TokenKind::Access,
        "fam_code",
        Duration::from_secs(60),
    );
    t.code_id = Some(first.id.clone());
    c.store
        .store_code_tokens(&first.id, &[t.clone()])
        .await
        .unwrap();
    assert!(matches!(
        c.store.consume_code(&code.hash, now).await.unwrap(),
        CodeUse::Replayed { revoked: 1, .. }
    ));
    assert!(
        c.store
            .find_token(&t.hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    // Tokens for a replayed code are refused.
    let late = token(
        &c,
        "pco_late",
        TokenKind::Access,
        "fam_code",
        Duration::from_secs(60),
    );
    assert!(matches!(
        c.store.store_code_tokens(&first.id, &[late]).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        c.store
            .consume_code(&test_keyring().hash_credential("pcc_unknown"), now)
            .await
            .unwrap(),
        CodeUse::Invalid
    );
    // An expired code is spent and invalid.
    let mut old = code.clone();
    old.id = "code_2".into();
    old.hash = test_keyring().hash_credential("pcc_2");
    old.expires_at = now - Duration::from_secs(1);
    c.store.store_code(&old).await.unwrap();
    assert_eq!(
        c.store.consume_code(&old.hash, now).await.unwrap(),
        CodeUse::Invalid
    );
}

fn key(kid: &str, state: SigningKeyState) -> NewSigningKey {
    NewSigningKey {
        kid: kid.into(),
        alg: "ES256".into(),
        private_pkcs8: zeroize::Zeroizing::new(format!("private-{kid}").into_bytes()),
        public_jwk: format!("{{\"kid\":\"{kid}\"}}"),
        state,
    }
}

pub(crate) async fn signing_keys_are_sealed_and_rotate_once(db: TestDb) {
    let c = client(&db).await;
    c.store
        .add_signing_key(&key("k1", SigningKeyState::Active))
        .await
        .unwrap();
    c.store
        .add_signing_key(&key("k2", SigningKeyState::Next))
        .await
        .unwrap();
    assert!(
        matches!(
            c.store
                .add_signing_key(&key("k9", SigningKeyState::Active))
                .await,
            Err(StoreError::Conflict(_))
        ),
        "one active key at a time"
    );
    let (a, b) = (c.store.clone(), c.store.clone());
    let (k3, k4) = (
        key("k3", SigningKeyState::Next),
        key("k4", SigningKeyState::Next),
    );
    let (ra, rb) = tokio::join!(
        a.rotate_signing_keys("k2", &k3),
        b.rotate_signing_keys("k2", &k4),
    );
    assert_eq!([ra.unwrap(), rb.unwrap()].iter().filter(|x| **x).count(), 1);
    let keys = c.store.signing_keys().await.unwrap();
    let state = |kid: &str| keys.iter().find(|k| k.kid == kid).map(|k| k.state);
    assert_eq!(state("k1"), Some(SigningKeyState::Retired));
    assert_eq!(state("k2"), Some(SigningKeyState::Active));
    assert_eq!(keys.len(), 3);
    assert_eq!(
        keys.iter()
            .find(|k| k.kid == "k2")
            .unwrap()
            .private_pkcs8
            .as_slice(),
        b"private-k2"
    );
    // The private key is sealed at rest, under the master key.
    let other = super::kvm::open_store_with(
        &db,
        Arc::new(portcullis_store::Keyring::from_master(&[9; 32])),
    )
    .await;
    assert!(matches!(
        other.signing_keys().await,
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(
        c.store
            .delete_retired_keys(SystemTime::now() + Duration::from_secs(1))
            .await
            .unwrap(),
        1
    );
}

pub(crate) async fn end_users_log_in_with_argon2id_passwords(db: TestDb) {
    let c = client(&db).await;
    let claims = serde_json::json!({"email": "ann@example.com"});
    let u = c
        .store
        .create_oauth_user(
            &Actor::system(),
            "Ann",
            "correct horse battery",
            claims.as_object().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(u.username, "ann");
    assert!(matches!(
        c.store
            .create_oauth_user(&Actor::system(), "bob", "short", &Default::default())
            .await,
        Err(StoreError::Invalid(_))
    ));
    let ok = c
        .store
        .authenticate_oauth_user("ann", "correct horse battery")
        .await
        .unwrap();
    assert_eq!(ok.id, u.id);
    assert_eq!(ok.claims["email"], "ann@example.com");
    for (name, pw) in [
        ("ann", "wrong password!!"),
        ("nobody", "correct horse battery"),
    ] {
        assert!(matches!(
            c.store.authenticate_oauth_user(name, pw).await,
            Err(StoreError::Unauthorized)
        ));
    }
    assert_eq!(c.store.get_oauth_user(&u.id).await.unwrap().username, "ann");
}

pub(crate) async fn federated_users_are_linked_by_provider_and_subject(db: TestDb) {
    let c = client(&db).await;
    let actor = Actor::system();
    let first = serde_json::json!({"email": "ann@corp.example", "name": "Ann"});
    let u = c
        .store
        .link_federated_user(&actor, "corp", "Sub-1", first.as_object().unwrap())
        .await
        .unwrap();
    assert!(u.id.starts_with("usr_"));
    assert_eq!(u.username, "corp/Sub-1");
    assert_eq!(u.claims["email"], "ann@corp.example");
    // The next login finds the same user and replaces its claims with the provider's.
    let later = serde_json::json!({"email": "ann@new.example"});
    let again = c
        .store
        .link_federated_user(&actor, "corp", "Sub-1", later.as_object().unwrap())
        .await
        .unwrap();
    assert_eq!(again.id, u.id);
    assert_eq!(again.claims["email"], "ann@new.example");
    assert!(again.claims.get("name").is_none(), "claims are replaced");
    assert_eq!(
        c.store.get_oauth_user(&u.id).await.unwrap().claims["email"],
        "ann@new.example"
    );
    // Subjects are case-sensitive and scoped to their provider.
    let other_case = c
        .store
        .link_federated_user(&actor, "corp", "sub-1", &Default::default())
        .await
        .unwrap();
    let other_provider = c
        .store
        .link_federated_user(&actor, "social", "Sub-1", &Default::default())
        .await
        .unwrap();
    assert_ne!(other_case.id, u.id);
    assert_ne!(other_provider.id, u.id);
    assert_ne!(other_provider.id, other_case.id);
    // A federated user has no password: no password logs it in.
    for pw in ["", "!", "correct horse battery"] {
        assert!(matches!(
            c.store.authenticate_oauth_user("corp/Sub-1", pw).await,
            Err(StoreError::Unauthorized)
        ));
    }
    // Invalid input is refused without writing.
    for (p, s) in [("", "x"), ("a/b", "x"), ("corp", "")] {
        assert!(matches!(
            c.store
                .link_federated_user(&actor, p, s, &Default::default())
                .await,
            Err(StoreError::Invalid(_))
        ));
    }
    let long = "x".repeat(256);
    assert!(matches!(
        c.store
            .link_federated_user(&actor, "corp", &long, &Default::default())
            .await,
        Err(StoreError::Invalid(_))
    ));
    // Concurrent first logins of one subject create exactly one user.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = c.store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .link_federated_user(&Actor::system(), "corp", "racer", &Default::default())
                .await
                .unwrap()
                .id
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(
        ids.len(),
        1,
        "one user for one (provider, subject): {ids:?}"
    );
}

pub(crate) async fn client_assertion_jtis_are_single_use_across_handles(db: TestDb) {
    let a = open_store(&db).await;
    let b = open_store(&db).await;
    let now = SystemTime::now();
    let later = now + Duration::from_secs(300);
    let jti = |s: &str| test_keyring().hash_credential(&format!("key_1\0{s}"));
    assert!(a.use_assertion_jti(&jti("one"), later, now).await.unwrap());
    // A replay through another handle (another node) is refused, and so is one through the same.
    assert!(!b.use_assertion_jti(&jti("one"), later, now).await.unwrap());
    assert!(!a.use_assertion_jti(&jti("one"), later, now).await.unwrap());
    assert!(b.use_assertion_jti(&jti("two"), later, now).await.unwrap());

    // Of many concurrent uses of one jti on two handles, exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let hash = jti("race");
        tasks.push(tokio::spawn(async move {
            store.use_assertion_jti(&hash, later, now).await.unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1, "exactly one use of a jti wins");

    // Once the recorded assertion has expired its record no longer blocks (the assertion itself
    // can no longer be accepted), and the purge removes expired records.
    let short = now + Duration::from_secs(1);
    assert!(a.use_assertion_jti(&jti("old"), short, now).await.unwrap());
    let after = now + Duration::from_secs(2);
    assert!(
        a.use_assertion_jti(&jti("old"), later, after)
            .await
            .unwrap()
    );
    assert!(
        !a.use_assertion_jti(&jti("old"), later, after)
            .await
            .unwrap()
    );
    assert!(
        a.use_assertion_jti(&jti("stale"), short, now)
            .await
            .unwrap()
    );
    let purged = a.purge_expired(after).await.unwrap();
    assert_eq!(purged, 1, "only the expired record goes");
    assert!(
        !a.use_assertion_jti(&jti("one"), later, after)
            .await
            .unwrap()
    );
}

pub(crate) async fn invalid_oauth_client_attributes_are_refused_by_field(db: TestDb) {
    let c = client(&db).await;
    let actor = Actor::system();
    let attrs = |pairs: &[(&str, &str)]| -> portcullis_store::Attributes {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let spec = |attributes| AppSpec {
        name: "keys".into(),
        callback_urls: vec![],
        attributes,
    };
    let bad = attrs(&[
        ("token_endpoint_auth_method", "client_secret_jwt"),
        ("jwks", r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#),
    ]);
    match c
        .store
        .create_app(&actor, "dev@example.com", &spec(bad))
        .await
    {
        Err(StoreError::Invalid(msg)) => {
            assert!(
                msg.contains("attributes[\"token_endpoint_auth_method\"]"),
                "{msg}"
            );
            assert!(msg.contains("attributes[\"jwks\"]"), "{msg}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    let good = attrs(&[
        ("token_endpoint_auth_method", "private_key_jwt"),
        ("jwks_uri", "https://client.example/jwks.json"),
    ]);
    let app = c
        .store
        .create_app(&actor, "dev@example.com", &spec(good))
        .await
        .unwrap();
    // Updates are checked too.
    let plain_http = attrs(&[("jwks_uri", "http://client.example/jwks.json")]);
    assert!(matches!(
        c.store
            .update_app(&actor, &app.app.id, &spec(plain_http), None)
            .await,
        Err(StoreError::Invalid(m)) if m.contains("attributes[\"jwks_uri\"]")
    ));
}
