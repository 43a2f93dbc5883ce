use std::time::{Duration, SystemTime};

use http::Method;
use portcullis_core::{ProductScope, ResourcePattern};
use portcullis_policy::{Mode, Phase, Pipeline, RequestOutcome};
use portcullis_store::{
    AppStatus, ApprovalStatus, CredentialEntry, DeveloperStatus, KeyStatus, Keyring, ProductGrant,
    QuotaSpec, QuotaUnit,
};

use super::*;
use crate::registry::PolicyDeps;
use crate::test_util::exchange;

const GOOD: &str = "pcl_goodgoodgoodgoodgoodgoodgoodgood";
/// Approved for `orders-read` only (prod, API `orders`, GET `/items/**`).
const READER: &str = "pcl_readerreaderreaderreaderreader";
/// Its only association (to an all-covering product) is pending.
const PENDING: &str = "pcl_pendingpendingpendingpending00";
/// No product associations at all (a legacy `KeyRepository::create_key` key).
const LEGACY: &str = "pcl_legacylegacylegacylegacylegacy";

fn keyring() -> Arc<Keyring> {
    Arc::new(Keyring::from_master(&[3; 32]))
}

fn product(
    name: &str,
    envs: &[&str],
    apis: &[&str],
    paths: &[&str],
    methods: &[Method],
) -> Arc<ProductEntry> {
    Arc::new(ProductEntry {
        name: name.into(),
        scope: ProductScope {
            apis: apis.iter().map(|a| (*a).to_owned()).collect(),
            paths: paths
                .iter()
                .map(|p| ResourcePattern::parse(p).unwrap())
                .collect(),
            methods: methods.to_vec(),
            environments: envs.iter().map(|e| (*e).to_owned()).collect(),
        },
        scopes: vec![],
        quota: Some(QuotaSpec {
            limit: 1000,
            interval: 1,
            unit: QuotaUnit::Hour,
        }),
        attributes: [("tier".to_owned(), name.to_owned())].into(),
    })
}

fn with_products(
    mut entry: CredentialEntry,
    grants: Vec<(ApprovalStatus, Arc<ProductEntry>)>,
) -> CredentialEntry {
    entry.products = grants
        .into_iter()
        .map(|(status, product)| ProductGrant { status, product })
        .collect();
    entry
}

fn entry(key: &str, key_status: KeyStatus, expires: Option<SystemTime>) -> CredentialEntry {
    CredentialEntry {
        key_hash: keyring().hash_credential(key),
        key_id: format!("key_{}", &key[4..12]),
        prefix: key[..12].into(),
        key_status,
        expires_at: expires,
        app_id: "app_1".into(),
        app_name: "shop".into(),
        app_status: AppStatus::Approved,
        developer_id: "dev_1".into(),
        developer_email: "dev@example.com".into(),
        developer_status: DeveloperStatus::Active,
        products: Vec::new(),
        app_attributes: Default::default(),
        developer_attributes: Default::default(),
    }
}

fn deps() -> PolicyDeps {
    let keys = Arc::new(KeyIndex::with_keyring(keyring()));
    let past = SystemTime::now() - Duration::from_secs(60);
    let all = product("all", &[], &[], &[], &[]);
    let reads = product(
        "orders-read",
        &["prod"],
        &["orders"],
        &["/items/**"],
        &[Method::GET],
    );
    let approved = |key| {
        with_products(
            entry(key, KeyStatus::Active, None),
            vec![(ApprovalStatus::Approved, Arc::clone(&all))],
        )
    };
    keys.publish(
        vec![
            approved(GOOD),
            with_products(
                entry(READER, KeyStatus::Active, None),
                vec![
                    (ApprovalStatus::Approved, reads),
                    (ApprovalStatus::Pending, Arc::clone(&all)),
                ],
            ),
            with_products(
                entry(PENDING, KeyStatus::Active, None),
                vec![(ApprovalStatus::Pending, Arc::clone(&all))],
            ),
            entry(LEGACY, KeyStatus::Active, None),
            entry(
                "pcl_revokedrevokedrevokedrevoked00",
                KeyStatus::Revoked,
                None,
            ),
            entry(
                "pcl_expiredexpiredexpiredexpired00",
                KeyStatus::Active,
                Some(past),
            ),
        ],
        1,
    );
    PolicyDeps {
        keys,
        ..Default::default()
    }
}

fn pipeline(config: serde_json::Value, mode: Mode) -> Pipeline {
    let deps = deps();
    let ctx = CompileCtx {
        phase: Phase::Request,
        deps: &deps,
        base_dir: std::path::Path::new("."),
    };
    let policy = serde_json::from_value::<VerifyApiKeyConfig>(config)
        .unwrap()
        .compile(&ctx)
        .unwrap();
    Pipeline::new(
        vec![portcullis_policy::PipelineEntry { policy, mode }],
        vec![],
    )
}

async fn run(p: &Pipeline, ex: &mut Exchange) -> Result<(), GatewayError> {
    match p.run_request(ex).await.0 {
        RequestOutcome::Forward => Ok(()),
        RequestOutcome::Fail(e) => Err(e),
        RequestOutcome::Respond(_) => panic!("unexpected reply"),
    }
}

#[tokio::test]
async fn valid_key_attaches_identity_and_is_hidden() {
    let p = pipeline(serde_json::json!({}), Mode::Enforce);
    let mut ex = exchange("GET", "/x", &[("x-api-key", GOOD)]);
    run(&p, &mut ex).await.unwrap();
    let id = ex.ctx.identity.as_ref().unwrap();
    assert_eq!(&*id.app_id, "app_1");
    assert_eq!(&*id.developer_email, "dev@example.com");
    assert_eq!(&*id.credential, "pcl_goodgood");
    assert!(!ex.request.headers.contains_key("x-api-key"));
    let verified = ex.request.extensions.get::<VerifiedApiKey>().unwrap();
    assert_eq!(&*verified.credential.app_name, "shop");
    assert_eq!(&*verified.product.as_ref().unwrap().name, "all");
    assert_eq!(
        ex.request.extensions.get::<ApiProduct>().map(|p| &*p.0),
        Some("all")
    );
}

/// An exchange on API `api` (base path `base`) in environment `env`.
fn call(env: &str, api: &str, base: &str, method: &str, path: &str, key: &str) -> Exchange {
    let mut ex = exchange(method, path, &[("x-api-key", key)]);
    ex.ctx.environment = env.into();
    ex.ctx.api = api.into();
    ex.ctx.base_path = base.into();
    ex
}

#[tokio::test]
async fn products_decide_environment_api_path_and_method() {
    let p = pipeline(serde_json::json!({}), Mode::Enforce);
    let cases = [
        (
            "prod",
            "orders",
            "/",
            "GET",
            "/items/7",
            READER,
            Ok("orders-read"),
        ),
        (
            "prod",
            "orders",
            "/orders/v1",
            "GET",
            "/orders/v1/items/7/x",
            READER,
            Ok("orders-read"),
        ),
        (
            "prod",
            "orders",
            "/",
            "HEAD",
            "/items/7",
            READER,
            Err("product.method_not_allowed"),
        ),
        (
            "prod",
            "orders",
            "/",
            "POST",
            "/items/7",
            READER,
            Err("product.method_not_allowed"),
        ),
        (
            "prod",
            "orders",
            "/",
            "GET",
            "/users",
            READER,
            Err("product.path_not_allowed"),
        ),
        (
            "prod",
            "orders",
            "/",
            "GET",
            "/items",
            READER,
            Err("product.path_not_allowed"),
        ),
        (
            "prod",
            "orders",
            "/orders/v1",
            "GET",
            "/orders/v1",
            READER,
            Err("product.path_not_allowed"),
        ),
        (
            "prod",
            "billing",
            "/",
            "GET",
            "/items/7",
            READER,
            Err("product.api_not_allowed"),
        ),
        (
            "test",
            "orders",
            "/",
            "GET",
            "/items/7",
            READER,
            Err("product.environment_not_allowed"),
        ),
        // A pending association opens nothing, whatever it covers.
        (
            "prod",
            "orders",
            "/",
            "GET",
            "/items/7",
            PENDING,
            Err("key.not_approved"),
        ),
        (
            "prod",
            "orders",
            "/",
            "GET",
            "/items/7",
            LEGACY,
            Err("key.not_approved"),
        ),
        ("test", "billing", "/", "DELETE", "/x", GOOD, Ok("all")),
    ];
    for (env, api, base, method, path, key, want) in cases {
        let mut ex = call(env, api, base, method, path, key);
        let got = run(&p, &mut ex).await.map(|()| {
            let verified = ex.request.extensions.get::<VerifiedApiKey>().unwrap();
            verified.product.as_ref().unwrap().name.clone()
        });
        let case = format!("{env} {api} {method} {path} {}", &key[..12]);
        match (got, want) {
            (Ok(name), Ok(want)) => assert_eq!(&*name, want, "{case}"),
            (Err(e), Err(code)) => {
                assert_eq!(e.code(), code, "{case}");
                assert_eq!(e.status(), 401, "{case}");
                assert!(
                    e.headers()
                        .iter()
                        .any(|(n, _)| n == header::WWW_AUTHENTICATE),
                    "{case}"
                );
                assert!(ex.ctx.identity.is_none(), "{case}");
                assert!(ex.request.extensions.get::<VerifiedApiKey>().is_none());
            }
            (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
        }
    }
}

#[tokio::test]
async fn the_matched_product_carries_quota_and_attributes() {
    let p = pipeline(serde_json::json!({}), Mode::Enforce);
    let mut ex = call("prod", "orders", "/", "GET", "/items/1", READER);
    run(&p, &mut ex).await.unwrap();
    let verified = ex.request.extensions.get::<VerifiedApiKey>().unwrap();
    let product = verified.product.as_ref().unwrap();
    assert_eq!(product.quota.unwrap().limit, 1000);
    assert_eq!(product.attributes["tier"], "orders-read");
    assert_eq!(&*verified.credential.developer_email, "dev@example.com");
    // The key never travels with the request context, not even in Debug output.
    let dump = format!("{:?} {:?}", verified, ex.ctx);
    assert!(!dump.contains(READER), "{dump}");
}

#[tokio::test]
async fn without_require_product_keys_are_judged_alone() {
    let p = pipeline(serde_json::json!({"require_product": false}), Mode::Enforce);
    for key in [LEGACY, PENDING, READER] {
        let mut ex = call("prod", "orders", "/", "POST", "/users", key);
        run(&p, &mut ex).await.unwrap();
        assert_eq!(&*ex.ctx.identity.as_ref().unwrap().app_id, "app_1");
        assert!(
            ex.request
                .extensions
                .get::<VerifiedApiKey>()
                .unwrap()
                .product
                .is_none()
        );
        assert!(ex.request.extensions.get::<ApiProduct>().is_none());
    }
    // A covering product is still attached.
    let mut ex = call("prod", "orders", "/", "GET", "/items/1", READER);
    run(&p, &mut ex).await.unwrap();
    assert_eq!(
        ex.request
            .extensions
            .get::<ApiProduct>()
            .unwrap()
            .0
            .as_ref(),
        "orders-read"
    );
    // Key, app and developer checks still apply.
    let mut ex = call(
        "prod",
        "orders",
        "/",
        "GET",
        "/",
        "pcl_revokedrevokedrevokedrevoked00",
    );
    assert_eq!(run(&p, &mut ex).await.unwrap_err().code(), "key.revoked");
}

#[tokio::test]
async fn refusals_have_distinct_codes_and_challenge() {
    let p = pipeline(serde_json::json!({}), Mode::Enforce);
    let cases = [
        (None, "key.missing"),
        (Some("pcl_unknownunknownunknownunknown00"), "key.invalid"),
        (Some("pcl_revokedrevokedrevokedrevoked00"), "key.revoked"),
        (Some("pcl_expiredexpiredexpiredexpired00"), "key.expired"),
    ];
    for (key, code) in cases {
        let headers: Vec<(&str, &str)> = key.map(|k| ("x-api-key", k)).into_iter().collect();
        let mut ex = exchange("GET", "/x", &headers);
        let err = run(&p, &mut ex).await.unwrap_err();
        assert_eq!(err.code(), code);
        assert_eq!(err.status(), 401);
        let challenge = err
            .headers()
            .iter()
            .find(|(n, _)| n == header::WWW_AUTHENTICATE);
        assert_eq!(
            challenge.unwrap().1,
            "APIKey realm=\"portcullis\", header=\"x-api-key\""
        );
        assert!(ex.ctx.identity.is_none());
    }
}

#[tokio::test]
async fn query_parameter_key_is_removed_from_the_uri() {
    let p = pipeline(serde_json::json!({"query": "apikey"}), Mode::Enforce);
    let mut ex = exchange("GET", &format!("/x?a=1&apikey={GOOD}&b=2"), &[]);
    run(&p, &mut ex).await.unwrap();
    assert_eq!(ex.request.uri.to_string(), "/x?a=1&b=2");
    let mut ex = exchange("GET", "/x?apikey=nope", &[]);
    assert_eq!(run(&p, &mut ex).await.unwrap_err().code(), "key.invalid");
}

#[tokio::test]
async fn monitor_mode_lets_unknown_keys_through_without_identity() {
    let p = pipeline(serde_json::json!({}), Mode::Monitor);
    let mut ex = exchange("GET", "/x", &[("x-api-key", "bogus")]);
    run(&p, &mut ex).await.unwrap();
    assert!(ex.ctx.identity.is_none());
    assert_eq!(ex.ctx.events[0].code, "key.invalid");
}

#[test]
fn config_errors_name_the_field() {
    let deps = PolicyDeps::default();
    let ctx = CompileCtx {
        phase: Phase::Request,
        deps: &deps,
        base_dir: std::path::Path::new("."),
    };
    let bad = VerifyApiKeyConfig {
        header: Some("bad header".into()),
        query: None,
        hide_credentials: true,
        require_product: true,
    };
    let errs = bad.compile(&ctx).err().unwrap();
    assert_eq!(errs[0].path, "header");
    assert_eq!(errs[0].message, "invalid header name 'bad header'");
}
