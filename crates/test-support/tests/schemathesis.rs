//! schemathesis (from PyPI) against the running admin API: every operation of
//! `/admin/v1/openapi.json` is fuzzed with an admin token, and the run fails on any server
//! error, any status code the document does not list, and any response body or content type
//! that contradicts the document.
//!
//! `.ci/run` installs schemathesis into `$PORTCULLIS_PYTHON_VENV` and sets
//! `PORTCULLIS_REQUIRE_SCHEMATHESIS=1`, so CI cannot skip this; on a developer machine without
//! it the test says SKIPPED and why. `PORTCULLIS_SCHEMATHESIS_EXAMPLES` (default 25) bounds the
//! cases per operation.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use http::Method;
use portcullis_store::AdminRole;
use portcullis_test_support::{TestGateway, get, request};
use serde_json::json;

/// Longest a run may take before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// The schemathesis executable, or `None` after saying why (a failure when it is required).
fn schemathesis() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(explicit) = std::env::var_os("PORTCULLIS_SCHEMATHESIS") {
        candidates.push(explicit.into());
    }
    if let Some(venv) = std::env::var_os("PORTCULLIS_PYTHON_VENV") {
        candidates.push(PathBuf::from(venv).join("bin/schemathesis"));
    }
    candidates.push("/var/tmp/portcullis-pyenv/bin/schemathesis".into());
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("schemathesis")));
    }
    if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
        return Some(found);
    }
    let msg = "SKIPPED: schemathesis not found (set PORTCULLIS_SCHEMATHESIS or install it: \
               python3 -m pip install schemathesis)";
    assert!(
        std::env::var("PORTCULLIS_REQUIRE_SCHEMATHESIS").as_deref() != Ok("1"),
        "{msg}, and PORTCULLIS_REQUIRE_SCHEMATHESIS=1"
    );
    eprintln!("{msg}");
    None
}

const CONFIG: &str = r#"
listeners: [ { name: public, address: "127.0.0.1:0" } ]
apis:
  - name: orders
    base_path: /orders
    upstream: { targets: ["http://127.0.0.1:9"] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_conforms_to_its_openapi_document() {
    let Some(exe) = schemathesis() else {
        return;
    };
    let gw = TestGateway::start(CONFIG).await;
    let token = gw
        .admin_token("schemathesis-root-7f3a", AdminRole::Admin)
        .await;
    let auth = format!("Bearer {token}");

    // The document as served, which must also be what docs/admin-openapi.json holds.
    let doc = get(
        &gw.admin_url("/admin/v1/openapi.json"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(doc.status, 200);
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/admin-openapi.json"
    ))
    .expect("docs/admin-openapi.json");
    assert!(
        serde_json::from_slice::<serde_json::Value>(&doc.body).expect("JSON")
            == serde_json::from_str::<serde_json::Value>(&committed).expect("JSON"),
        "the served document differs from docs/admin-openapi.json; regenerate it with \
         UPDATE_DOCS=1 cargo test -p portcullis-admin --test openapi_up_to_date"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = dir.path().join("openapi.json");
    std::fs::write(&schema, &doc.body).expect("write schema");

    seed(&gw, &auth).await;
    let url = format!("http://{}", gw.running.admin);
    // Everything but the operations that can cut off the run's own token (schemathesis learns
    // ids from responses, so it does find the token's id and its user's id).
    run(
        &exe,
        &schema,
        &url,
        &auth,
        &["--exclude-operation-id-regex", SELF_DESTRUCTIVE],
    )
    .await
    .expect_authenticated();
    // A run whose token died half-way would have tested nothing but 401s.
    let me = get(&gw.admin_url("/admin/v1/me"), &[("authorization", &auth)]).await;
    if me.status != 200 {
        let other = gw.admin_token("post-mortem", AdminRole::Admin).await;
        let audit = get(
            &gw.admin_url("/admin/v1/audit?limit=50"),
            &[("authorization", &format!("Bearer {other}"))],
        )
        .await;
        panic!(
            "the run's admin token stopped working ({}); recent audit entries:\n{}",
            me.status,
            String::from_utf8_lossy(&audit.body)
        );
    }
    // Then those, on their own, with a token of their own: once it is revoked or its user
    // disabled, the remaining cases get 401, which the document lists.
    let token = gw
        .admin_token("schemathesis-root-last", AdminRole::Admin)
        .await;
    let auth = format!("Bearer {token}");
    run(
        &exe,
        &schema,
        &url,
        &auth,
        &["--include-operation-id-regex", SELF_DESTRUCTIVE],
    )
    .await;
    gw.stop().await;
}

/// A little of everything, so listings return real items (checked against their schemas) and
/// schemathesis can learn real ids from them.
async fn seed(gw: &TestGateway, auth: &str) {
    let post = |path: &'static str, body: serde_json::Value| async move {
        let r = request(
            Method::POST,
            &gw.admin_url(path),
            &[
                ("authorization", auth),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
        .await;
        assert_eq!(
            r.status,
            201,
            "seeding {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()
    };
    post("/admin/v1/environments", json!({"name": "test"})).await;
    post(
        "/admin/v1/products",
        json!({"name": "gold", "paths": ["/**"], "methods": ["GET"], "environments": ["test"],
               "quota": {"limit": 100, "interval": 1, "unit": "minute"}}),
    )
    .await;
    let dev = post(
        "/admin/v1/developers",
        json!({"email": "ann@example.com", "name": "Ann", "attributes": {"tier": "gold"}}),
    )
    .await;
    let app_path = format!("/admin/v1/developers/{}/apps", dev["id"].as_str().unwrap());
    let r = request(
        Method::POST,
        &gw.admin_url(&app_path),
        &[
            ("authorization", auth),
            ("content-type", "application/json"),
        ],
        json!({"name": "shop", "callback_urls": ["https://shop.example/cb"]}).to_string(),
    )
    .await;
    assert_eq!(r.status, 201);
    let cred_path = format!(
        "/admin/v1/apps/{}/credentials",
        r.json()["id"].as_str().unwrap()
    );
    let r = request(
        Method::POST,
        &gw.admin_url(&cred_path),
        &[
            ("authorization", auth),
            ("content-type", "application/json"),
        ],
        json!({"products": ["gold"]}).to_string(),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = request(
        Method::PUT,
        &gw.admin_url("/admin/v1/environments/test/kvms/backend/entries/password"),
        &[
            ("authorization", auth),
            ("content-type", "application/json"),
        ],
        json!({"value": "s3cret"}).to_string(),
    )
    .await;
    assert_eq!(r.status, 201);
}

/// Operations that may revoke the caller's token or disable its user.
const SELF_DESTRUCTIVE: &str = "^(logout|revoke_my_token|revoke_token|update_user)$";

/// What a run printed.
struct Output(String);

impl Output {
    /// Fails when some operations only ever answered 401/403: they were not really tested.
    fn expect_authenticated(&self) {
        assert!(
            !self.0.contains("Authentication failed"),
            "operations answered only 401/403 during the run:\n{}",
            self.0
        );
    }
}

/// Runs schemathesis on `schema` against `url`; panics on any finding.
async fn run(exe: &Path, schema: &Path, url: &str, auth: &str, filter: &[&str]) -> Output {
    let examples =
        std::env::var("PORTCULLIS_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".into());
    let report = schema.with_file_name("report");
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("run")
        .arg(schema)
        .args(["--url", url])
        .args(["--header", &format!("Authorization: {auth}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance",
        ])
        .args(["--max-examples", &examples])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--seed", "20261123"])
        // One worker: with several threads, hypothesis' lambda descriptions call `ast.parse`
        // concurrently, which CPython 3.11 before 3.11.9 does not survive ("AST constructor
        // recursion depth mismatch", python/cpython#106905), failing the run at random.
        .args(["--workers", "1"])
        .args(["--request-timeout", "10"])
        .args(filter)
        .arg("--report-dir")
        .arg(&report)
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(RUN_LIMIT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis did not finish within {RUN_LIMIT:?}"))
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The summary, so a green run still shows what was covered.
    let summary: Vec<&str> = stdout.lines().rev().take(25).collect();
    eprintln!(
        "{}",
        summary.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    assert!(
        out.status.success(),
        "schemathesis found problems (exit {:?}):\n{stdout}\n{stderr}",
        out.status.code()
    );
    assert!(
        stdout.contains(" passed") && !stdout.contains(" 0 passed"),
        "schemathesis ran no test case:\n{stdout}"
    );
    Output(stdout.into_owned())
}
