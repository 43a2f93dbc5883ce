use std::time::{Duration, SystemTime};

use portcullis_policy::{Mode, Phase, Pipeline, RequestOutcome};
use portcullis_store::{AppStatus, CredentialEntry, DeveloperStatus, KeyStatus, Keyring};

use super::*;
use crate::registry::PolicyDeps;
use crate::test_util::exchange;

const GOOD: &str = "pcl_goodgoodgoodgoodgoodgoodgoodgood";

fn keyring() -> Arc<Keyring> {
    Arc::new(Keyring::from_master(&[3; 32]))
}

fn entry(key: &str, key_status: KeyStatus, expires: Option<SystemTime>) -> CredentialEntry {
    CredentialEntry {
        key_hash: keyring().hash_credential(key),
        key_id: format!("key_{key}"),
        prefix: key[..12].to_owned(),
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
    keys.publish(
        vec![
            entry(GOOD, KeyStatus::Active, None),
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
    };
    let errs = bad.compile(&ctx).err().unwrap();
    assert_eq!(errs[0].path, "header");
    assert_eq!(errs[0].message, "invalid header name 'bad header'");
}
