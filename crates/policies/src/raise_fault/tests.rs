use portcullis_policy::{Mode, Pipeline, RequestOutcome};
use serde_json::json;

use super::*;
use crate::test_util::{compile_errors, compile_in, entry, err, exchange, request_pipeline, run};

#[test]
fn valid_configs_compile() {
    crate::test_util::assert_schema_documented::<RaiseFaultConfig>();
    assert_eq!(
        entry("raise-fault", json!({ "status": 410 })).policy.kind(),
        "raise-fault"
    );
    let with_body =
        json!({ "status": 200, "body": "{\"ok\":true}", "content_type": "application/json" });
    assert!(compile_in("raise-fault", with_body, Phase::Response).is_ok());
}

#[test]
fn invalid_configs_give_exact_errors() {
    let cases = [
        (
            json!({ "status": 200 }),
            err(
                "status",
                "must be between 400 and 599 (200-599 when body is given)",
            ),
        ),
        (
            json!({ "status": 600, "body": "x" }),
            err("status", "must be between 200 and 599"),
        ),
        (
            json!({ "status": 204, "body": "x" }),
            err("body", "status 204 cannot carry a body"),
        ),
        (
            json!({ "status": 403, "code": "Custom Code" }),
            err(
                "code",
                "must be lowercase dotted words, e.g. orders.retired (at most 64 characters)",
            ),
        ),
        (
            json!({ "status": 403, "content_type": "text/html" }),
            err("content_type", "only used together with body"),
        ),
        (
            json!({ "status": 403, "headers": { "Content-Type": "text/html" } }),
            err("headers.Content-Type", "use content_type instead"),
        ),
        (
            json!({ "status": 403, "headers": { "Connection": "close" } }),
            err(
                "headers.Connection",
                "'connection' is managed by the gateway and cannot be set",
            ),
        ),
        (json!({}), err("", "missing field `status`")),
    ];
    for (config, expected) in cases {
        assert_eq!(compile_errors("raise-fault", config), [expected]);
    }
    assert_eq!(
        compile_errors("raise-fault", json!({ "status": 403, "reason": "x" }))[0].path,
        "reason"
    );
}

#[tokio::test]
async fn without_body_it_fails_with_the_configured_problem() {
    let p = request_pipeline(vec![entry(
        "raise-fault",
        json!({ "status": 410, "code": "orders.retired", "title": "Endpoint retired", "detail": "use /v2/orders", "headers": { "Link": "</v2/orders>; rel=\"successor-version\"" } }),
    )]);
    let done = run(&p, &mut exchange("GET", "/v1/orders", &[]), 200).await;
    let RequestOutcome::Fail(e) = &done.outcome else {
        panic!("{done:?}")
    };
    assert_eq!(e.status(), StatusCode::GONE);
    assert_eq!(
        (e.code(), e.title(), e.detail()),
        ("orders.retired", "Endpoint retired", Some("use /v2/orders"))
    );
    assert_eq!(e.source(), ErrorSource::Client);
    assert_eq!(
        done.header("link"),
        "</v2/orders>; rel=\"successor-version\""
    );
}

#[tokio::test]
async fn defaults_use_the_generic_code_and_status_reason() {
    let p = request_pipeline(vec![entry("raise-fault", json!({ "status": 403 }))]);
    let done = run(&p, &mut exchange("GET", "/", &[]), 200).await;
    let RequestOutcome::Fail(e) = &done.outcome else {
        panic!("{done:?}")
    };
    assert_eq!(
        (e.code(), e.title(), e.detail()),
        ("fault.raised", "Forbidden", None)
    );
}

#[tokio::test]
async fn with_body_it_answers_exactly() {
    let p = request_pipeline(vec![entry(
        "raise-fault",
        json!({ "status": 503, "body": "{\"maintenance\":true}", "content_type": "application/json", "headers": { "Retry-After": "120" } }),
    )]);
    let done = run(&p, &mut exchange("GET", "/", &[]), 200).await;
    let RequestOutcome::Respond(reply) = &done.outcome else {
        panic!("{done:?}")
    };
    assert_eq!(reply.status(), 503);
    assert_eq!(reply.body().as_ref(), b"{\"maintenance\":true}");
    assert_eq!(reply.headers()["content-type"], "application/json");
    assert_eq!(reply.headers()["retry-after"], "120");
    let plain = request_pipeline(vec![entry(
        "raise-fault",
        json!({ "status": 200, "body": "pong" }),
    )]);
    let done = run(&plain, &mut exchange("GET", "/", &[]), 200).await;
    assert_eq!(done.header("content-type"), "text/plain; charset=utf-8");
}

#[tokio::test]
async fn in_a_response_list_it_replaces_the_upstream_response() {
    let fault = compile_in(
        "raise-fault",
        json!({ "status": 502, "code": "upstream.hidden" }),
        Phase::Response,
    )
    .unwrap();
    let p = Pipeline::new(Vec::new(), vec![fault]);
    let mut ex = exchange("GET", "/", &[]);
    let done = run(&p, &mut ex, 200).await;
    assert_eq!(done.code(), Some("upstream.hidden"));
    assert_eq!(done.response.status, 502);
}

#[tokio::test]
async fn monitor_mode_forwards_and_records_an_event() {
    let p = request_pipeline(vec![entry(
        "raise-fault",
        json!({ "status": 403, "code": "beta.closed", "mode": "monitor" }),
    )]);
    let mut ex = exchange("GET", "/", &[]);
    let done = run(&p, &mut ex, 200).await;
    assert!(matches!(done.outcome, RequestOutcome::Forward));
    assert_eq!(ex.ctx.events.len(), 1);
    assert_eq!(
        (ex.ctx.events[0].code, ex.ctx.events[0].mode),
        ("beta.closed", Mode::Monitor)
    );
}

#[test]
fn interning_leaks_each_distinct_string_once() {
    let a = intern("same.text".to_owned());
    let b = intern("same.text".to_owned());
    assert!(std::ptr::eq(a, b));
}
