use bytes::Bytes;
use portcullis_policy::{Mode, Pipeline, RequestBody, RequestOutcome};
use serde_json::json;

use super::*;
use crate::test_util::{compile_errors, entry, exchange, request_pipeline, run};

fn pipeline(config: serde_json::Value) -> Pipeline {
    request_pipeline(vec![entry(KIND, config)])
}

async fn check(p: &Pipeline, ex: &mut Exchange) -> Result<(), GatewayError> {
    match run(p, ex, 200).await.outcome {
        RequestOutcome::Forward => Ok(()),
        RequestOutcome::Fail(e) => Err(e),
        RequestOutcome::Respond(r) => panic!("unexpected reply {r:?}"),
    }
}

fn post(content_type: &str, body: &'static str) -> Exchange {
    let mut ex = exchange("POST", "/comments", &[("content-type", content_type)]);
    ex.body = RequestBody::Buffered(Bytes::from_static(body.as_bytes()));
    ex
}

const SQLI: &str = "/search?q=1'%20UNION%20SELECT%20password%20FROM%20users--";

#[test]
fn config_is_validated() {
    crate::test_util::assert_schema_documented::<InjectionProtectionConfig>();
    assert!(entry(KIND, json!({})).policy.needs_request_body());
    assert!(
        !entry(KIND, json!({ "inspect_body": false }))
            .policy
            .needs_request_body()
    );
    assert_eq!(
        compile_errors(KIND, json!({ "paranoia": 5 }))[0].path,
        "paranoia"
    );
    let bad_rule = json!({ "custom_rules": [
        { "id": "mine-1", "class": "sqli", "pattern": "(" }
    ] });
    assert_eq!(
        compile_errors(KIND, bad_rule)[0].path,
        "custom_rules[0].pattern"
    );
    let dup = json!({ "custom_rules": [
        { "id": "x", "class": "xss", "pattern": "a" },
        { "id": "x", "class": "xss", "pattern": "b" }
    ] });
    assert_eq!(compile_errors(KIND, dup)[0].path, "custom_rules");
    assert_eq!(
        compile_errors(KIND, json!({ "classes": { "sql": true } }))[0].path,
        "classes.sql"
    );
}

#[tokio::test]
async fn query_injection_is_blocked_without_echoing_the_payload() {
    let p = pipeline(json!({}));
    let mut ex = exchange("GET", SQLI, &[]);
    let e = check(&p, &mut ex).await.unwrap_err();
    assert_eq!((e.status().as_u16(), e.code()), (400, CODE));
    let detail = e.detail().unwrap();
    assert!(
        detail.starts_with("SQL injection detected in query.q"),
        "{detail}"
    );
    assert!(!detail.to_lowercase().contains("password"), "{detail}");
    assert_eq!(e.extra().unwrap()["class"], "sqli");
    // The finding is recorded as an event, with rule and location.
    assert_eq!(ex.ctx.events[0].code, "injection.sqli");
    assert!(
        ex.ctx.events[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("at query.q")
    );
}

#[tokio::test]
async fn bodies_headers_and_cookies_are_inspected() {
    let p = pipeline(json!({}));
    let mut ex = post(
        "application/json",
        r#"{"c":{"html":"<script>alert(1)</script>"}}"#,
    );
    let e = check(&p, &mut ex).await.unwrap_err();
    assert!(e.detail().unwrap().contains("json $.c.html"), "{e}");
    let mut ex = post(
        "application/x-www-form-urlencoded",
        "file=../../../../etc/passwd",
    );
    assert!(check(&p, &mut ex).await.is_err());
    let mut ex = exchange("GET", "/", &[("cookie", "id=1; q=' OR 1=1--")]);
    assert!(check(&p, &mut ex).await.is_err());
    let mut ex = exchange(
        "GET",
        "/",
        &[("user-agent", "() { :; }; /bin/bash -c 'cat /etc/passwd'")],
    );
    assert!(check(&p, &mut ex).await.is_err());
    // Clean traffic passes.
    let mut ex = post(
        "application/json",
        r#"{"comment":"Drop by the shop, or update me later"}"#,
    );
    check(&p, &mut ex).await.unwrap();
}

#[tokio::test]
async fn body_inspection_can_be_switched_off_and_locations_excluded() {
    let body = r#"{"html":"<script>alert(1)</script>"}"#;
    let p = pipeline(json!({ "inspect_body": false }));
    check(&p, &mut post("application/json", body))
        .await
        .unwrap();
    let p = pipeline(json!({ "exclusions": [{ "location": "json $.html", "classes": ["xss"] }] }));
    check(&p, &mut post("application/json", body))
        .await
        .unwrap();
    let p = pipeline(json!({ "classes": { "sqli": false } }));
    check(&p, &mut exchange("GET", SQLI, &[])).await.unwrap();
}

#[tokio::test]
async fn custom_rules_block() {
    let p = pipeline(json!({ "custom_rules": [
        { "id": "acme-1", "class": "code_injection", "pattern": "acme_eval\\(" }
    ] }));
    let mut ex = exchange("GET", "/x?p=acme_eval(1)", &[]);
    let e = check(&p, &mut ex).await.unwrap_err();
    assert!(e.detail().unwrap().contains("rule acme-1"), "{e}");
}

#[tokio::test]
async fn monitor_mode_forwards_and_still_records_the_finding() {
    let p = pipeline(json!({ "mode": "monitor" }));
    let mut ex = exchange("GET", SQLI, &[]);
    check(&p, &mut ex).await.unwrap();
    let codes: Vec<_> = ex.ctx.events.iter().map(|e| (e.code, e.mode)).collect();
    assert_eq!(
        codes,
        [("injection.sqli", Mode::Enforce), (CODE, Mode::Monitor)]
    );
}
