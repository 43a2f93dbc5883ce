//! Admin identities on every backend: users and roles, TOTP enrolment and login, login
//! throttling, token authentication (expiry, revocation, disabled users, role caps), audit
//! entries without secrets, and the grep test: no secret the store was handed or issued
//! appears anywhere in the database.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_store::{
    Actor, AdminRole, AuditFilter, Keyring, PageRequest, SecretKey, Store, StoreError,
};
use totp_rs::Totp;

use super::harness::TestDb;
use super::kvm::{contains_secret, dump, open_store, open_store_with, with_environments};

const TTL: Duration = Duration::from_secs(600);
const PASSWORD: &str = "correct horse battery staple";

fn root() -> Actor {
    Actor("admin:root".into())
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

async fn login(
    store: &Arc<dyn Store>,
    user: &str,
    password: &str,
    code: Option<&str>,
) -> Result<SecretKey, StoreError> {
    store
        .login(user, password, code, TTL)
        .await
        .map(|(_, secret)| secret)
}

fn unauthorized<T: std::fmt::Debug>(r: &Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::Unauthorized)),
        "expected Unauthorized, got {r:?}"
    );
}

pub(crate) async fn admin_users_roles_and_passwords(db: TestDb) {
    let store = open_store(&db).await;
    assert!(store.admin_users_empty().await.unwrap());
    let alice = store
        .create_admin_user(&root(), " Alice ", PASSWORD, AdminRole::Admin)
        .await
        .unwrap();
    assert!(!store.admin_users_empty().await.unwrap());
    assert_eq!((alice.username.as_str(), alice.version), ("alice", 1));
    assert!(alice.id.starts_with("usr_") && !alice.totp_enabled && !alice.disabled);
    assert_eq!(store.get_admin_user("ALICE").await.unwrap(), alice);
    assert_eq!(store.get_admin_user(&alice.id).await.unwrap(), alice);
    assert!(matches!(
        store
            .create_admin_user(&root(), "alice", PASSWORD, AdminRole::Admin)
            .await,
        Err(StoreError::Conflict(_))
    ));
    match store
        .create_admin_user(&root(), "bob", "too short", AdminRole::Operator)
        .await
    {
        Err(StoreError::Invalid(m)) => assert!(m.starts_with("password:"), "{m}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    match store
        .create_admin_user(&root(), "b:ob", PASSWORD, AdminRole::Operator)
        .await
    {
        Err(StoreError::Invalid(m)) => assert!(m.starts_with("username:"), "{m}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    let bob = store
        .create_admin_user(&root(), "bob", PASSWORD, AdminRole::Operator)
        .await
        .unwrap();
    assert_eq!(
        store.list_admin_users().await.unwrap(),
        vec![alice.clone(), bob.clone()]
    );

    let bob2 = store
        .update_admin_user(&root(), "bob", AdminRole::ReadOnly, false, Some(1))
        .await
        .unwrap();
    assert_eq!((bob2.role, bob2.version), (AdminRole::ReadOnly, 2));
    assert!(matches!(
        store
            .update_admin_user(&root(), "bob", AdminRole::Admin, false, Some(1))
            .await,
        Err(StoreError::Stale { current: 2, .. })
    ));
    // The last enabled admin cannot be demoted or disabled.
    assert!(matches!(
        store
            .update_admin_user(&root(), "alice", AdminRole::Operator, false, None)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .update_admin_user(&root(), "alice", AdminRole::Admin, true, None)
            .await,
        Err(StoreError::Conflict(_))
    ));

    // A new password works at once, the old one no longer, and sessions end.
    let session = login(&store, "bob", PASSWORD, None).await.unwrap();
    store
        .set_admin_password(&root(), "bob", "a much better passphrase")
        .await
        .unwrap();
    unauthorized(&store.authenticate_admin_token(session.expose()).await);
    unauthorized(&login(&store, "bob", PASSWORD, None).await);
    login(&store, "bob", "a much better passphrase", None)
        .await
        .unwrap();
    assert!(matches!(
        store.set_admin_password(&root(), "bob", "short").await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.get_admin_user("nobody").await,
        Err(StoreError::NotFound { .. })
    ));
}

pub(crate) async fn totp_enrolment_and_login(db: TestDb) {
    let store = open_store(&db).await;
    store
        .create_admin_user(&root(), "carol", PASSWORD, AdminRole::Operator)
        .await
        .unwrap();
    let url = store.begin_totp(&root(), "carol").await.unwrap();
    let totp = Totp::from_url(&url).unwrap();
    assert_eq!((totp.digits(), totp.step()), (6, 30));
    assert_eq!(totp.account_name(), "carol");
    // Until confirmed, the password alone still logs in (enrolment can be abandoned).
    login(&store, "carol", PASSWORD, None).await.unwrap();
    let now = SystemTime::now();
    let wrong = format!(
        "{:06}",
        (totp
            .generate(unix_secs(now))
            .to_string()
            .parse::<u32>()
            .unwrap()
            + 1)
            % 1_000_000
    );
    assert!(matches!(
        store.confirm_totp(&root(), "carol", &wrong).await,
        Err(StoreError::Invalid(_))
    ));
    let code_now = totp.generate(unix_secs(now)).to_string();
    let carol = store
        .confirm_totp(&root(), "carol", &code_now)
        .await
        .unwrap();
    assert!(carol.totp_enabled);

    unauthorized(&login(&store, "carol", PASSWORD, None).await);
    unauthorized(&login(&store, "carol", PASSWORD, Some(&wrong)).await);
    // The confirmation code was used: replaying it is refused.
    unauthorized(&login(&store, "carol", PASSWORD, Some(&code_now)).await);
    // The next step's code is within the ±1 step skew and later than the last accepted one.
    let code_next = totp.generate(unix_secs(now) + 30).to_string();
    unauthorized(&login(&store, "carol", "wrong password!", Some(&code_next)).await);
    let session = login(&store, "carol", PASSWORD, Some(&code_next))
        .await
        .unwrap();
    let who = store
        .authenticate_admin_token(session.expose())
        .await
        .unwrap();
    assert_eq!(
        (who.user.username.as_str(), who.token.session),
        ("carol", true)
    );
    unauthorized(&login(&store, "carol", PASSWORD, Some(&code_next)).await);
    unauthorized(&login(&store, "carol", PASSWORD, Some(&code_now)).await);

    // Re-enrolling keeps two-factor on until the new seed is confirmed.
    let url2 = store.begin_totp(&root(), "carol").await.unwrap();
    assert_ne!(url, url2);
    assert!(store.get_admin_user("carol").await.unwrap().totp_enabled);
    unauthorized(&login(&store, "carol", PASSWORD, None).await);
}

pub(crate) async fn login_failures_are_throttled_per_username(db: TestDb) {
    let store = open_store(&db).await;
    store
        .create_admin_user(&root(), "dave", PASSWORD, AdminRole::Admin)
        .await
        .unwrap();
    for name in ["dave", "no-such-user"] {
        for _ in 0..5 {
            unauthorized(&login(&store, name, "not the password", None).await);
        }
        // Locked: even the right password is not checked, and unknown names behave the same.
        match login(&store, name, PASSWORD, None).await {
            Err(StoreError::Throttled { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
            other => panic!("{name}: expected Throttled, got {other:?}"),
        }
    }
    // Other names are unaffected.
    store
        .create_admin_user(&root(), "erin", PASSWORD, AdminRole::Admin)
        .await
        .unwrap();
    login(&store, "erin", PASSWORD, None).await.unwrap();

    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The lock-out doubles with each further failure.
    unauthorized(&login(&store, "dave", "still not it", None).await);
    match login(&store, "dave", PASSWORD, None).await {
        Err(StoreError::Throttled { retry_after_secs }) => assert_eq!(retry_after_secs, 2),
        other => panic!("expected Throttled, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    login(&store, "dave", PASSWORD, None).await.unwrap();
    // A success clears the streak: the next failure is not locked out.
    unauthorized(&login(&store, "dave", "wrong again", None).await);
    unauthorized(&login(&store, "dave", "wrong again", None).await);

    // Failures are audited without the attempted password or username.
    let filter = AuditFilter {
        entity: Some("admin-user".into()),
        ..AuditFilter::default()
    };
    let page = store
        .list_audit(
            &filter,
            &PageRequest {
                after: None,
                limit: Some(500),
            },
        )
        .await
        .unwrap();
    let failed = page
        .items
        .iter()
        .filter(|e| e.action == "login-failed")
        .count();
    assert_eq!(failed, 5 + 5 + 1 + 2);
    let text = format!("{:?}", page.items);
    assert!(
        !text.contains("not the password") && !text.contains("no-such-user"),
        "{text}"
    );
}

pub(crate) async fn admin_tokens_authenticate_within_their_limits(db: TestDb) {
    let store = open_store(&db).await;
    let frank = store
        .create_admin_user(&root(), "frank", PASSWORD, AdminRole::Operator)
        .await
        .unwrap();
    store
        .create_admin_user(&root(), "root", PASSWORD, AdminRole::Admin)
        .await
        .unwrap();
    match store
        .create_admin_token(&root(), "frank", "ci", AdminRole::Admin, None)
        .await
    {
        Err(StoreError::Invalid(m)) => assert!(m.starts_with("role:"), "{m}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    let (ci, ci_secret) = store
        .create_admin_token(&root(), "frank", "ci", AdminRole::Operator, None)
        .await
        .unwrap();
    assert!(ci_secret.expose().starts_with("pat_") && ci_secret.expose().len() == 36);
    assert_eq!(ci.prefix, ci_secret.prefix());
    assert_eq!(
        (ci.user_id.as_str(), ci.session),
        (frank.id.as_str(), false)
    );
    let who = store
        .authenticate_admin_token(ci_secret.expose())
        .await
        .unwrap();
    assert_eq!(
        (who.role, who.token.id.as_str()),
        (AdminRole::Operator, ci.id.as_str())
    );

    // The effective role follows the user's current role down.
    store
        .update_admin_user(&root(), "frank", AdminRole::ReadOnly, false, None)
        .await
        .unwrap();
    let who = store
        .authenticate_admin_token(ci_secret.expose())
        .await
        .unwrap();
    assert_eq!(
        (who.role, who.token.role),
        (AdminRole::ReadOnly, AdminRole::Operator)
    );

    // Disabling the user stops every token and login; enabling restores the token.
    store
        .update_admin_user(&root(), "frank", AdminRole::Operator, true, None)
        .await
        .unwrap();
    unauthorized(&store.authenticate_admin_token(ci_secret.expose()).await);
    unauthorized(&login(&store, "frank", PASSWORD, None).await);
    store
        .update_admin_user(&root(), "frank", AdminRole::Operator, false, None)
        .await
        .unwrap();
    assert_eq!(
        store
            .authenticate_admin_token(ci_secret.expose())
            .await
            .unwrap()
            .role,
        AdminRole::Operator
    );

    // Expiry.
    let soon = SystemTime::now() + Duration::from_millis(300);
    let (_, short) = store
        .create_admin_token(&root(), "frank", "short", AdminRole::ReadOnly, Some(soon))
        .await
        .unwrap();
    store
        .authenticate_admin_token(short.expose())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    unauthorized(&store.authenticate_admin_token(short.expose()).await);
    assert!(matches!(
        store
            .create_admin_token(
                &root(),
                "frank",
                "past",
                AdminRole::ReadOnly,
                Some(SystemTime::now())
            )
            .await,
        Err(StoreError::Invalid(_))
    ));
    let (_, brief) = store
        .login("frank", PASSWORD, None, Duration::from_millis(300))
        .await
        .unwrap();
    store
        .authenticate_admin_token(brief.expose())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    unauthorized(&store.authenticate_admin_token(brief.expose()).await);

    // Revocation by prefix; revoking twice is harmless; a pasted token is not echoed.
    store.revoke_admin_token(&root(), &ci.prefix).await.unwrap();
    store.revoke_admin_token(&root(), &ci.id).await.unwrap();
    unauthorized(&store.authenticate_admin_token(ci_secret.expose()).await);
    let err = store
        .revoke_admin_token(&root(), &format!("pat_{}", "Z".repeat(32)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }));
    assert!(!err.to_string().contains(&"Z".repeat(20)), "{err}");

    let listed = store.list_admin_tokens(Some("frank")).await.unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(
        listed
            .iter()
            .find(|t| t.id == ci.id)
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        store
            .list_admin_tokens(Some("root"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.list_admin_tokens(None).await.unwrap().len(), 3);

    // Garbage, API keys and a token checked under another master key are all refused.
    unauthorized(&store.authenticate_admin_token("").await);
    unauthorized(
        &store
            .authenticate_admin_token(&format!("pat_{}", "0".repeat(32)))
            .await,
    );
    let api_key = SecretKey::generate().unwrap();
    unauthorized(&store.authenticate_admin_token(api_key.expose()).await);
    let (_, fresh) = store
        .create_admin_token(&root(), "root", "ops", AdminRole::Admin, None)
        .await
        .unwrap();
    let other = open_store_with(&db, Arc::new(Keyring::from_master(&[9; 32]))).await;
    unauthorized(&other.authenticate_admin_token(fresh.expose()).await);
    store
        .authenticate_admin_token(fresh.expose())
        .await
        .unwrap();
}

pub(crate) async fn admin_writes_are_audited_without_secrets(db: TestDb) {
    let store = open_store(&db).await;
    let user = store
        .create_admin_user(&root(), "gina", PASSWORD, AdminRole::Admin)
        .await
        .unwrap();
    store
        .update_admin_user(&root(), "gina", AdminRole::Admin, false, None)
        .await
        .unwrap(); // no change: no entry
    let url = store.begin_totp(&root(), "gina").await.unwrap();
    let totp = Totp::from_url(&url).unwrap();
    let code = totp.generate(unix_secs(SystemTime::now())).to_string();
    store.confirm_totp(&root(), "gina", &code).await.unwrap();
    store
        .set_admin_password(&root(), "gina", "another long passphrase")
        .await
        .unwrap();
    let (token, secret) = store
        .create_admin_token(&root(), "gina", "ci", AdminRole::ReadOnly, None)
        .await
        .unwrap();
    store.revoke_admin_token(&root(), &token.id).await.unwrap();

    let page = store
        .list_audit(&AuditFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    let seen: Vec<(&str, &str, &str)> = page
        .items
        .iter()
        .rev()
        .map(|e| (e.action.as_str(), e.entity.as_str(), e.entity_id.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("create", "admin-user", user.id.as_str()),
            ("totp-begin", "admin-user", user.id.as_str()),
            ("totp-confirm", "admin-user", user.id.as_str()),
            ("set-password", "admin-user", user.id.as_str()),
            ("create", "admin-token", token.id.as_str()),
            ("revoke", "admin-token", token.id.as_str()),
        ]
    );
    assert!(page.items.iter().all(|e| e.actor == "admin:root"));
    let confirm = &page.items[3];
    assert_eq!(confirm.before.as_ref().unwrap()["totp_enabled"], false);
    assert_eq!(confirm.after.as_ref().unwrap()["totp_enabled"], true);
    let text = format!("{:?}", page.items);
    let seed = totp.secret().to_base32();
    for secret in [
        PASSWORD,
        "another long passphrase",
        &seed,
        &url,
        secret.expose(),
    ] {
        assert!(!text.contains(secret), "audit holds a secret: {text}");
    }
}

pub(crate) async fn secrets_appear_nowhere_in_the_database(db: TestDb) {
    let store = open_store(&db).await;
    with_environments(&store, &["prod"]).await;
    let kvm_value = "kvm-plaintext-7Qm2xV9pLr4Tz8Wc";
    store
        .kvm_put(&root(), "prod", "backend", "db-password", kvm_value, None)
        .await
        .unwrap();
    let password = "pw-plaintext-3Kd8Nq1Zs6Yb";
    store
        .create_admin_user(&root(), "hank", password, AdminRole::Admin)
        .await
        .unwrap();
    let url = store.begin_totp(&root(), "hank").await.unwrap();
    let totp = Totp::from_url(&url).unwrap();
    let code = totp.generate(unix_secs(SystemTime::now())).to_string();
    store.confirm_totp(&root(), "hank", &code).await.unwrap();
    let next = totp.generate(unix_secs(SystemTime::now()) + 30).to_string();
    let (_, session) = store
        .login("hank", password, Some(&next), TTL)
        .await
        .unwrap();
    let (_, api_token) = store
        .create_admin_token(&root(), "hank", "ci", AdminRole::Operator, None)
        .await
        .unwrap();
    // A failed login whose "username" is a password must not store it either.
    let typo = "typed-into-username-9Hx2";
    unauthorized(&login(&store, typo, password, None).await);

    let seed = totp.secret().as_bytes().to_vec();
    let seed_b32 = totp.secret().to_base32();
    let secrets: [(&str, &[u8]); 8] = [
        ("kvm value", kvm_value.as_bytes()),
        ("password", password.as_bytes()),
        ("totp seed", &seed),
        ("totp seed (base32)", seed_b32.as_bytes()),
        ("session token", session.expose().as_bytes()),
        ("session token tail", &session.expose().as_bytes()[12..]),
        ("api token tail", &api_token.expose().as_bytes()[12..]),
        ("username typo", typo.as_bytes()),
    ];
    let bytes = dump(&db).await;
    assert!(
        contains_secret(&bytes, b"db-password") && contains_secret(&bytes, b"hank"),
        "the dump must contain the non-secret names, or this test proves nothing"
    );
    for (what, secret) in secrets {
        assert!(
            !contains_secret(&bytes, secret),
            "{what} found in the database"
        );
    }
}
