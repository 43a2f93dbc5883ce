use std::time::SystemTime;

use portcullis_policy::{Mode, Phase, Pipeline, PipelineEntry, RequestOutcome};
use portcullis_store::KvmEntryInfo;
use serde_json::json;

use super::*;
use crate::registry::PolicyDeps;
use crate::test_util::{assert_schema_documented, err, exchange};

const SECRET: &str = "backend-s3cr3t";

fn deps() -> PolicyDeps {
    let kvm = Arc::new(KvmSnapshot::new());
    let entry = |env: &str, value: &str| {
        let info = KvmEntryInfo {
            environment: env.into(),
            map: "backend".into(),
            key: "token".into(),
            version: 1,
            updated_at: SystemTime::now(),
        };
        (info, value.to_owned())
    };
    kvm.publish(vec![entry("prod", SECRET), entry("test", "line\nbreak")], 1);
    PolicyDeps {
        kvm,
        ..Default::default()
    }
}

fn compile(config: serde_json::Value, phase: Phase) -> Result<Arc<dyn Policy>, Vec<CompileError>> {
    let deps = deps();
    let ctx = CompileCtx {
        phase,
        deps: &deps,
        base_dir: std::path::Path::new("."),
    };
    serde_json::from_value::<KvmLookupConfig>(config)
        .unwrap()
        .compile(&ctx)
}

async fn run(
    config: serde_json::Value,
    env: &str,
    headers: &[(&str, &str)],
) -> (Exchange, Result<(), GatewayError>) {
    let policy = compile(config, Phase::Request).unwrap();
    let p = Pipeline::new(
        vec![PipelineEntry {
            policy,
            mode: Mode::Enforce,
        }],
        vec![],
    );
    let mut ex = exchange("GET", "/x", headers);
    ex.ctx.environment = env.into();
    let outcome = match p.run_request(&mut ex).await.0 {
        RequestOutcome::Forward => Ok(()),
        RequestOutcome::Fail(e) => Err(e),
        RequestOutcome::Respond(_) => panic!("unexpected reply"),
    };
    (ex, outcome)
}

#[tokio::test]
async fn the_environments_value_replaces_what_the_client_sent() {
    let config = json!({"map": "backend", "key": "token", "header": "authorization", "format": "Bearer {value}"});
    let (ex, outcome) = run(
        config,
        "prod",
        &[("authorization", "Bearer forged"), ("authorization", "x")],
    )
    .await;
    outcome.unwrap();
    let values: Vec<_> = ex.request.headers.get_all("authorization").iter().collect();
    assert_eq!(values.len(), 1);
    assert_eq!(values[0], &format!("Bearer {SECRET}"));
    assert!(values[0].is_sensitive());
    // Debug output of the request (as a panic or trace would print it) hides the value.
    assert!(!format!("{:?}", ex.request).contains(SECRET));
}

#[tokio::test]
async fn a_missing_entry_fails_or_is_skipped() {
    let config = json!({"map": "backend", "key": "token", "header": "x-backend-key"});
    let (ex, outcome) = run(config.clone(), "stage", &[("x-backend-key", "client")]).await;
    let err = outcome.unwrap_err();
    assert_eq!(err.code(), "kvm.entry_missing");
    assert_eq!(err.status(), 500);
    assert!(err.detail().is_none());
    assert!(!ex.request.headers.contains_key("x-backend-key"));

    let mut skip = config;
    skip["on_missing"] = json!("skip");
    let (ex, outcome) = run(skip, "stage", &[("x-backend-key", "client")]).await;
    outcome.unwrap();
    assert!(!ex.request.headers.contains_key("x-backend-key"));
}

#[tokio::test]
async fn a_value_that_cannot_be_a_header_fails_without_revealing_it() {
    let config = json!({"map": "backend", "key": "token", "header": "x-backend-key"});
    let (ex, outcome) = run(config, "test", &[]).await;
    let err = outcome.unwrap_err();
    assert_eq!(err.code(), "kvm.value_invalid");
    assert!(!err.to_string().contains("break"));
    assert!(!ex.request.headers.contains_key("x-backend-key"));
}

#[test]
fn config_errors_name_the_field() {
    let cases = [
        (
            json!({"map": "", "key": "k", "header": "x-k"}),
            vec![err(
                "map",
                "must be 1 to 100 characters without control characters",
            )],
        ),
        (
            json!({"map": "a/b", "key": "k", "header": "x-k"}),
            vec![err("map", "must not contain '/'")],
        ),
        (
            json!({"map": "m", "key": "k", "header": "host"}),
            vec![err(
                "header",
                "'host' is managed by the gateway and cannot be set",
            )],
        ),
        (
            json!({"map": "m", "key": "k", "header": "x-k", "format": "Bearer"}),
            vec![err("format", "must contain {value} exactly once")],
        ),
        (
            json!({"map": "m", "key": "k", "header": "x-k", "format": "{value}{value}"}),
            vec![err("format", "must contain {value} exactly once")],
        ),
        (
            json!({"map": "m", "key": "k", "header": "x-k", "format": "a\n{value}"}),
            vec![err(
                "format",
                "invalid header value: only visible ASCII, spaces and tabs are allowed",
            )],
        ),
    ];
    for (config, want) in cases {
        let got = compile(config.clone(), Phase::Request).err().unwrap();
        assert_eq!(got, want, "{config}");
    }
    let got = compile(
        json!({"map": "m", "key": "k", "header": "x-k"}),
        Phase::Response,
    )
    .err()
    .unwrap();
    assert_eq!(got[0].path, "");
    assert_schema_documented::<KvmLookupConfig>();
}
