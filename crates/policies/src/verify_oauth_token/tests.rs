//! `verify-oauth-token` and `require-scopes` through the pipeline, against a real (in-memory
//! SQLite) store and the authorization server's real signing keys.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use portcullis_oauth::{AuthorizationServer, LocalTokens, Settings};
use portcullis_policy::{Mode, Pipeline, PipelineEntry, RequestOutcome};
use portcullis_store::{
    Actor, AppSpec, ApprovalType, CatalogRepository, CredentialSpec, DeveloperSpec, Keyring,
    NewToken, OAuthRepository, ProductSpec, SqliteStore, TokenKind,
};
use serde_json::json;

use crate::test_util::{exchange, run};
use crate::{CompileCtx, PolicyDeps, compile_policy};

struct Fixture {
    store: Arc<SqliteStore>,
    keyring: Arc<Keyring>,
    tokens: Arc<LocalTokens>,
    server: Arc<AuthorizationServer>,
    credential_id: String,
    app_id: String,
}

async fn fixture() -> Fixture {
    let keyring = Arc::new(Keyring::ephemeral());
    let store = Arc::new(SqliteStore::open_in_memory(keyring.clone()).await.unwrap());
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
                callback_urls: vec![],
                attributes: Default::default(),
            },
        )
        .await
        .unwrap();
    store
        .create_product(
            &actor,
            "orders",
            &ProductSpec {
                display_name: "Orders".into(),
                description: String::new(),
                apis: vec![],
                paths: vec!["/**".into()],
                methods: vec![],
                environments: vec![],
                scopes: vec!["orders.read".into(), "orders.write".into()],
                quota: None,
                approval: ApprovalType::Auto,
                attributes: Default::default(),
            },
        )
        .await
        .unwrap();
    let issued = store
        .create_credential(
            &actor,
            &app.app.id,
            &CredentialSpec {
                products: vec!["orders".into()],
                expires_at: None,
            },
        )
        .await
        .unwrap();
    let tokens = Arc::new(LocalTokens::new(1000, Duration::from_secs(60)));
    let settings = Settings::new("127.0.0.1:0".parse().unwrap(), "http://127.0.0.1:1");
    let server = AuthorizationServer::new(
        settings,
        store.clone() as Arc<dyn OAuthRepository>,
        keyring.clone(),
        tokens.clone(),
    )
    .await
    .unwrap();
    Fixture {
        store,
        keyring,
        tokens,
        server,
        credential_id: issued.credential.key.id.clone(),
        app_id: app.app.id.clone(),
    }
}

impl Fixture {
    /// Stores an opaque access token and returns its plaintext.
    async fn opaque(&self, scopes: &[&str], lifetime: Duration) -> String {
        let token = format!("pco_test{}", rand_suffix());
        let now = SystemTime::now();
        self.store
            .store_tokens(&[NewToken {
                id: format!("tok_{}", rand_suffix()),
                hash: self.keyring.hash_credential(&token),
                kind: TokenKind::Access,
                format: "opaque".into(),
                credential_id: self.credential_id.clone(),
                subject: None,
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                products: vec!["orders".into()],
                issued_at: now - Duration::from_secs(1),
                expires_at: now + lifetime,
                family_id: "fam_1".into(),
                parent_id: None,
                code_id: None,
                cnf_x5t: None,
                cnf_jkt: None,
                claims: Default::default(),
            }])
            .await
            .unwrap();
        token
    }

    fn jwt(&self, claims: &serde_json::Value, typ: &str) -> String {
        let keys = self.server.keys().current();
        keys.active
            .as_ref()
            .unwrap()
            .sign_with_type(typ, claims)
            .unwrap()
    }

    fn pipeline(&self, policies: &[(&str, serde_json::Value)]) -> Pipeline {
        let deps = PolicyDeps {
            oauth: self.tokens.clone(),
            ..Default::default()
        };
        let ctx = CompileCtx {
            phase: portcullis_policy::Phase::Request,
            deps: &deps,
            base_dir: std::path::Path::new("."),
        };
        let entries: Vec<PipelineEntry> = policies
            .iter()
            .map(|(k, c)| compile_policy(k, c.clone(), &ctx).unwrap())
            .collect();
        Pipeline::new(entries, Vec::new())
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}x{}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn call(
    p: &Pipeline,
    auth: Option<&str>,
) -> (crate::test_util::Done, portcullis_policy::Exchange) {
    let headers: Vec<(&str, String)> = auth
        .map(|t| vec![("authorization", format!("Bearer {t}"))])
        .unwrap_or_default();
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut ex = exchange("GET", "/orders", &h);
    let done = run(p, &mut ex, 200).await;
    (done, ex)
}

#[tokio::test]
async fn opaque_tokens_admit_identify_and_hide_then_stop_when_revoked() {
    let f = fixture().await;
    let p = f.pipeline(&[("verify-oauth-token", json!({}))]);

    let (done, _) = call(&p, None).await;
    assert_eq!(done.code(), Some("token.missing"));
    assert_eq!(
        done.header("www-authenticate"),
        "Bearer realm=\"portcullis\""
    );

    let (done, _) = call(&p, Some("pco_unknown")).await;
    assert_eq!(done.code(), Some("token.invalid"));
    assert!(
        done.header("www-authenticate")
            .contains("error=\"invalid_token\"")
    );

    let token = f.opaque(&["orders.read"], Duration::from_secs(600)).await;
    let (done, ex) = call(&p, Some(&token)).await;
    assert!(
        matches!(done.outcome, RequestOutcome::Forward),
        "{:?}",
        done.outcome
    );
    let id = ex.ctx.identity.as_ref().unwrap();
    assert_eq!(&*id.app_id, f.app_id.as_str());
    assert_eq!(&*id.app_name, "shop");
    assert!(ex.request.headers.get("authorization").is_none());

    // Revoked through the server's path (store + eviction): refused at once.
    let hash = f.keyring.hash_credential(&token);
    f.store
        .revoke_token(&hash, &f.credential_id, false)
        .await
        .unwrap();
    f.tokens.evict(&hash);
    let (done, _) = call(&p, Some(&token)).await;
    assert_eq!(done.code(), Some("token.invalid"));

    let expired = f.opaque(&[], Duration::ZERO).await;
    let (done, _) = call(&p, Some(&expired)).await;
    assert_eq!(done.code(), Some("token.expired"));
}

#[tokio::test]
async fn a_known_token_is_served_from_memory_when_the_store_is_gone() {
    let f = fixture().await;
    let p = f.pipeline(&[("verify-oauth-token", json!({}))]);
    let token = f.opaque(&["orders.read"], Duration::from_secs(600)).await;
    let (done, _) = call(&p, Some(&token)).await;
    assert!(matches!(done.outcome, RequestOutcome::Forward));
    f.store.close().await;
    let (done, _) = call(&p, Some(&token)).await;
    assert!(
        matches!(done.outcome, RequestOutcome::Forward),
        "cached lookup"
    );
    let (done, _) = call(&p, Some("pco_never_seen")).await;
    assert_eq!(done.code(), Some("gateway.unavailable"));
}

#[tokio::test]
async fn jwt_access_tokens_are_verified_against_the_servers_keys() {
    let f = fixture().await;
    let p = f.pipeline(&[("verify-oauth-token", json!({"leeway": "0s"}))]);
    let now = now_secs();
    let good = json!({
        "iss": "http://127.0.0.1:1", "sub": f.credential_id, "client_id": f.credential_id,
        "aud": ["orders"], "iat": now, "exp": now + 300, "jti": "tok_1", "scope": "orders.read",
    });
    let (done, ex) = call(&p, Some(&f.jwt(&good, "at+jwt"))).await;
    assert!(
        matches!(done.outcome, RequestOutcome::Forward),
        "{:?}",
        done.outcome
    );
    assert_eq!(
        ex.request
            .extensions
            .get::<super::OAuthPrincipal>()
            .unwrap()
            .0
            .scopes,
        ["orders.read"]
    );
    // An ID-token-like JWT (plain typ) is not an access token.
    let (done, _) = call(&p, Some(&f.jwt(&good, "JWT"))).await;
    assert_eq!(done.code(), Some("token.invalid"));
    let mut other_iss = good.clone();
    other_iss["iss"] = json!("https://evil.example");
    let (done, _) = call(&p, Some(&f.jwt(&other_iss, "at+jwt"))).await;
    assert_eq!(done.code(), Some("token.invalid"));
    let mut expired = good.clone();
    expired["exp"] = json!(now - 10);
    let (done, _) = call(&p, Some(&f.jwt(&expired, "at+jwt"))).await;
    assert_eq!(done.code(), Some("token.expired"));
    // Signed by a key the server never published.
    let stranger =
        portcullis_jose::Signer::generate("x", portcullis_jose::Algorithm::RS256).unwrap();
    let forged = stranger.sign_with_type("at+jwt", &good).unwrap();
    let (done, _) = call(&p, Some(&forged)).await;
    assert_eq!(done.code(), Some("token.invalid"));
}

#[tokio::test]
async fn a_cached_jwt_is_judged_again_at_each_use_with_that_policys_leeway() {
    let f = fixture().await;
    let lenient = f.pipeline(&[("verify-oauth-token", json!({"leeway": "60s"}))]);
    let strict = f.pipeline(&[("verify-oauth-token", json!({"leeway": "0s"}))]);
    let now = now_secs();
    let claims = json!({
        "iss": "http://127.0.0.1:1", "sub": f.credential_id, "client_id": f.credential_id,
        "aud": ["orders"], "iat": now - 120, "exp": now - 10, "jti": "tok_2",
    });
    let token = f.jwt(&claims, "at+jwt");
    // Expired 10 s ago: within 60 s of leeway, so verified (and cached) by the lenient policy.
    for _ in 0..2 {
        let (done, _) = call(&lenient, Some(&token)).await;
        assert!(
            matches!(done.outcome, RequestOutcome::Forward),
            "{:?}",
            done.outcome
        );
    }
    // The same token, now from the cache, is expired for a policy without leeway.
    let (done, _) = call(&strict, Some(&token)).await;
    assert_eq!(done.code(), Some("token.expired"));
    // A one-byte change is never a cache hit.
    let (done, _) = call(&lenient, Some(&format!("{token}A"))).await;
    assert_eq!(done.code(), Some("token.invalid"));
}

#[tokio::test]
async fn require_scopes_checks_the_verified_token() {
    let f = fixture().await;
    let all = f.pipeline(&[
        ("verify-oauth-token", json!({})),
        (
            "require-scopes",
            json!({"scopes": ["orders.read", "orders.write"]}),
        ),
    ]);
    let any = f.pipeline(&[
        ("verify-oauth-token", json!({})),
        (
            "require-scopes",
            json!({"scopes": ["orders.read", "orders.write"], "match": "any"}),
        ),
    ]);
    let read = f.opaque(&["orders.read"], Duration::from_secs(600)).await;
    let (done, _) = call(&all, Some(&read)).await;
    assert_eq!(done.code(), Some("token.insufficient_scope"));
    assert_eq!(done.response.status, 403);
    assert_eq!(
        done.header("www-authenticate"),
        "Bearer error=\"insufficient_scope\", scope=\"orders.read orders.write\""
    );
    let (done, _) = call(&any, Some(&read)).await;
    assert!(matches!(done.outcome, RequestOutcome::Forward));
    let both = f
        .opaque(&["orders.read", "orders.write"], Duration::from_secs(600))
        .await;
    let (done, _) = call(&all, Some(&both)).await;
    assert!(matches!(done.outcome, RequestOutcome::Forward));
    // Alone (no verified token before it), it fails closed.
    let alone = f.pipeline(&[("require-scopes", json!({"scopes": ["orders.read"]}))]);
    let (done, _) = call(&alone, Some(&both)).await;
    assert_eq!(done.code(), Some("token.missing"));
    let _ = Mode::Enforce;
}

#[tokio::test]
async fn an_unbound_resolver_is_unavailable_not_open() {
    let p = {
        let deps = PolicyDeps::default();
        let ctx = CompileCtx {
            phase: portcullis_policy::Phase::Request,
            deps: &deps,
            base_dir: std::path::Path::new("."),
        };
        Pipeline::new(
            vec![compile_policy("verify-oauth-token", json!({}), &ctx).unwrap()],
            Vec::new(),
        )
    };
    let (done, _) = call(&p, Some("pco_x")).await;
    assert_eq!(done.code(), Some("gateway.unavailable"));
}

#[test]
fn config_errors_name_the_field() {
    use crate::test_util::{compile_errors, err};
    assert_eq!(
        compile_errors("verify-oauth-token", json!({"leeway": "10m"})),
        vec![err("leeway", "must be at most 5m")]
    );
}

#[tokio::test]
async fn phantom_token_forwards_a_cached_signed_jwt_with_the_tokens_claims() {
    let f = fixture().await;
    let p = f.pipeline(&[
        ("verify-oauth-token", json!({})),
        ("phantom-token", json!({"audience": "orders-backend"})),
    ]);
    let token = f.opaque(&["orders.read"], Duration::from_secs(600)).await;
    let (done, ex) = call(&p, Some(&token)).await;
    assert!(
        matches!(done.outcome, RequestOutcome::Forward),
        "{:?}",
        done.outcome
    );
    let forwarded = ex.request.headers["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    let jwt = forwarded.strip_prefix("Bearer ").unwrap().to_owned();
    assert_ne!(jwt, token, "the opaque token never reaches the backend");
    // The backend verifies it with the server's published keys.
    let rules = portcullis_jose::Rules {
        algorithms: portcullis_jose::SIGNING_ALGORITHMS.to_vec(),
        issuer: Some("http://127.0.0.1:1".into()),
        audiences: vec!["orders-backend".into()],
        ..Default::default()
    };
    let keys = f.server.keys().current();
    let v = rules
        .finish(rules.parse(&jwt).unwrap(), &keys.key_set, SystemTime::now())
        .unwrap();
    assert_eq!(v.str_claim("client_id"), Some(f.credential_id.as_str()));
    assert_eq!(v.str_claim("scope"), Some("orders.read"));
    // Cached: the same JWT for the next request with this token.
    let (_, again) = call(&p, Some(&token)).await;
    assert_eq!(
        again.request.headers["authorization"].to_str().unwrap(),
        forwarded
    );
    // It is not an access token at the gateway (typ JWT, not at+jwt).
    let v = f.pipeline(&[("verify-oauth-token", json!({}))]);
    let (done, _) = call(&v, Some(&jwt)).await;
    assert_eq!(done.code(), Some("token.invalid"));
    // Without a verified token before it, it fails closed.
    let alone = f.pipeline(&[("phantom-token", json!({}))]);
    let (done, _) = call(&alone, Some(&token)).await;
    assert_eq!(done.code(), Some("token.missing"));
}
