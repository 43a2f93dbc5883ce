use bytes::Bytes;
use portcullis_policy::{Mode, Pipeline, RequestBody, RequestOutcome};
use serde_json::json;

use super::*;
use crate::test_util::{compile_errors, entry, exchange, request_pipeline, run};

const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../test-support/tests/data/orders-openapi.yaml"
);

fn pipeline(extra: serde_json::Value) -> Pipeline {
    let mut config = json!({ "spec": SPEC, "base_path": "/shop/v1" });
    if let serde_json::Value::Object(extra) = extra {
        for (k, v) in extra {
            config[k] = v;
        }
    }
    request_pipeline(vec![entry(KIND, config)])
}

fn ex(method: &str, uri: &str, headers: &[(&str, &str)], body: &'static str) -> Exchange {
    let mut ex = exchange(method, uri, headers);
    ex.ctx.path = uri.split('?').next().unwrap_or(uri).to_owned();
    ex.body = RequestBody::Buffered(Bytes::from_static(body.as_bytes()));
    ex
}

async fn check(p: &Pipeline, mut ex: Exchange) -> Result<Exchange, GatewayError> {
    match run(p, &mut ex, 200).await.outcome {
        RequestOutcome::Forward => Ok(ex),
        RequestOutcome::Fail(e) => Err(e),
        RequestOutcome::Respond(r) => panic!("unexpected reply {r:?}"),
    }
}

fn codes_of(e: &GatewayError) -> Vec<String> {
    e.extra().expect("violations")["violations"]
        .as_array()
        .expect("array")
        .iter()
        .map(|v| {
            format!(
                "{} {}",
                v["code"].as_str().unwrap(),
                v["location"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn config_is_validated() {
    crate::test_util::assert_schema_documented::<OpenApiValidationConfig>();
    let e = compile_errors(KIND, json!({ "spec": "/nonexistent/openapi.yaml" }));
    assert_eq!(e[0].path, "spec");
    assert!(
        e[0].message
            .contains("cannot read /nonexistent/openapi.yaml"),
        "{e:?}"
    );
    let e = compile_errors(KIND, json!({ "spec": SPEC, "base_path": "shop" }));
    assert_eq!(e[0].path, "base_path");
    // A document problem names the field and the place in the document.
    let bad = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let e = compile_errors(KIND, json!({ "spec": bad }));
    assert_eq!(e[0].path, "spec");
    assert!(e[0].message.contains("Cargo.toml"), "{e:?}");
}

#[tokio::test]
async fn a_relative_spec_resolves_against_the_config_directory() {
    // The unit-test config directory is `.`, the crate's directory.
    let p = request_pipeline(vec![entry(
        KIND,
        json!({ "spec": "../test-support/tests/data/orders-openapi.yaml" }),
    )]);
    check(&p, ex("GET", "/orders/7", &[], "")).await.unwrap();
}

#[tokio::test]
async fn valid_requests_pass() {
    let p = pipeline(json!({}));
    check(
        &p,
        ex("GET", "/shop/v1/orders?limit=5&status=open", &[], ""),
    )
    .await
    .unwrap();
    check(&p, ex("GET", "/shop/v1/orders/7", &[], ""))
        .await
        .unwrap();
    let h = [("content-type", "application/json"), ("x-tenant", "acme")];
    check(
        &p,
        ex("POST", "/shop/v1/orders", &h, r#"{"sku":"a","qty":2}"#),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn violations_are_listed() {
    let p = pipeline(json!({}));
    let e = check(&p, ex("GET", "/shop/v1/orders/abc", &[], ""))
        .await
        .unwrap_err();
    assert_eq!(
        (e.status().as_u16(), e.code()),
        (400, "openapi.parameter_invalid")
    );
    assert_eq!(codes_of(&e), ["openapi.parameter_invalid path.id"]);

    let h = [("content-type", "application/json")];
    let e = check(
        &p,
        ex("POST", "/shop/v1/orders", &h, r#"{"sku":"a","qty":0}"#),
    )
    .await
    .unwrap_err();
    let listed = codes_of(&e);
    assert!(
        listed.contains(&"openapi.parameter_missing header.x-tenant".to_owned()),
        "{listed:?}"
    );
    assert!(
        listed
            .iter()
            .any(|c| c.starts_with("openapi.body_invalid body")),
        "{listed:?}"
    );
    assert!(e.detail().unwrap().contains("more"), "{e}");

    let h = [("content-type", "text/plain"), ("x-tenant", "acme")];
    let e = check(&p, ex("POST", "/shop/v1/orders", &h, "sku=a"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "openapi.content_type_not_allowed");
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let p = pipeline(json!({}));
    let e = check(&p, ex("GET", "/shop/v1/admin", &[], ""))
        .await
        .unwrap_err();
    assert_eq!(
        (e.status().as_u16(), e.code()),
        (404, "openapi.path_not_found")
    );
    // Outside the base path nothing is declared.
    let e = check(&p, ex("GET", "/orders/7", &[], ""))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "openapi.path_not_found");
    let e = check(&p, ex("PUT", "/shop/v1/orders/7", &[], ""))
        .await
        .unwrap_err();
    assert_eq!(
        (e.status().as_u16(), e.code()),
        (405, "openapi.method_not_allowed")
    );
    let allow = e
        .headers()
        .iter()
        .find(|(n, _)| n == ALLOW)
        .map(|(_, v)| v.to_str().unwrap());
    assert!(
        allow.is_some_and(|a| a.contains("GET") && a.contains("DELETE")),
        "{allow:?}"
    );
}

#[tokio::test]
async fn unknown_query_params_only_when_asked() {
    let lenient = pipeline(json!({}));
    check(&lenient, ex("GET", "/shop/v1/orders?_=123", &[], ""))
        .await
        .unwrap();
    let strict = pipeline(json!({ "reject_unknown_query_params": true }));
    let e = check(&strict, ex("GET", "/shop/v1/orders?_=123", &[], ""))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "openapi.query_param_unknown");
}

#[tokio::test]
async fn responses_are_monitored_never_blocked() {
    let p = pipeline(json!({ "validate_responses": true }));
    let mut e = ex("DELETE", "/shop/v1/orders/7", &[], "");
    let done = run(&p, &mut e, 500).await;
    assert!(matches!(done.outcome, RequestOutcome::Forward));
    assert_eq!(e.ctx.events.len(), 1, "{:?}", e.ctx.events);
    assert_eq!(e.ctx.events[0].code, "openapi.response_status_undeclared");
    let mut e = ex("DELETE", "/shop/v1/orders/7", &[], "");
    run(&p, &mut e, 204).await;
    assert!(e.ctx.events.is_empty());
}

#[tokio::test]
async fn monitor_mode_forwards_and_records_an_event() {
    let p = pipeline(json!({ "mode": "monitor" }));
    let mut e = ex("GET", "/shop/v1/orders/0", &[], "");
    assert!(matches!(
        run(&p, &mut e, 200).await.outcome,
        RequestOutcome::Forward
    ));
    assert_eq!(
        (e.ctx.events[0].code, e.ctx.events[0].mode),
        ("openapi.parameter_invalid", Mode::Monitor)
    );
}

/// The three body checks in one pipeline share one parse: `json-threat-protection` leaves the
/// tape, the others read it, and the answers are those each policy gives on its own.
#[tokio::test]
async fn one_parse_is_shared_by_the_body_checks() {
    let spec = json!({ "spec": SPEC, "base_path": "/shop/v1" });
    let all = request_pipeline(vec![
        entry("json-threat-protection", json!({})),
        entry("injection-protection", json!({})),
        entry(KIND, spec.clone()),
    ]);
    let alone = pipeline(json!({}));
    let headers = [("content-type", "application/json"), ("x-tenant", "acme")];

    let ok = check(
        &all,
        ex(
            "POST",
            "/shop/v1/orders",
            &headers,
            r#"{"sku":"a","qty":2}"#,
        ),
    )
    .await
    .expect("valid order passes all three");
    let parsed = ParsedJsonBody::of(&ok).expect("the tape is kept for later policies");
    assert_eq!(parsed.root().len(), 2);

    // The schema sees the tape: same violations as the policy alone (which parses itself).
    let bad = r#"{"sku":"","qty":0,"extra":1}"#;
    let shared = check(&all, ex("POST", "/shop/v1/orders", &headers, bad))
        .await
        .unwrap_err();
    let own = check(&alone, ex("POST", "/shop/v1/orders", &headers, bad))
        .await
        .unwrap_err();
    assert_eq!(codes_of(&shared), codes_of(&own));
    assert_eq!(codes_of(&shared).len(), 3, "{:?}", codes_of(&shared));

    // Injection inspection reads the tape too, and still names the JSON location.
    let attack = r#"{"sku":"1' OR '1'='1","qty":1}"#;
    let e = check(&all, ex("POST", "/shop/v1/orders", &headers, attack))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "injection.detected");
    assert!(
        e.detail().unwrap_or_default().contains("json $.sku"),
        "{e:?}"
    );

    // A body replaced after the parse is not read through the stale tape.
    let mut replaced = ex(
        "POST",
        "/shop/v1/orders",
        &headers,
        r#"{"sku":"a","qty":2}"#,
    );
    let first = check(&all, replaced).await.expect("passes");
    replaced = first;
    replaced.body = RequestBody::Buffered(Bytes::from_static(br#"{"sku":"a","qty":-1}"#));
    assert!(ParsedJsonBody::of(&replaced).is_none());
    let e = check(&alone, replaced).await.unwrap_err();
    assert_eq!(codes_of(&e), ["openapi.body_invalid body /qty"]);
}
