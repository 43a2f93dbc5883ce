use bytes::Bytes;
use portcullis_policy::{Mode, Pipeline, RequestBody, RequestOutcome};
use serde_json::json;

use super::*;
use crate::test_util::{compile_errors, compile_in, entry, err, exchange, request_pipeline, run};

fn pipeline(config: serde_json::Value) -> Pipeline {
    request_pipeline(vec![entry(KIND, config)])
}

async fn post(
    p: &Pipeline,
    content_type: Option<&str>,
    body: &'static str,
) -> Result<(), GatewayError> {
    let headers: Vec<_> = content_type
        .map(|c| ("content-type", c))
        .into_iter()
        .collect();
    let mut ex = exchange("POST", "/orders", &headers);
    ex.body = RequestBody::Buffered(Bytes::from_static(body.as_bytes()));
    match run(p, &mut ex, 200).await.outcome {
        RequestOutcome::Forward => Ok(()),
        RequestOutcome::Fail(e) => Err(e),
        RequestOutcome::Respond(r) => panic!("unexpected reply {r:?}"),
    }
}

#[test]
fn config_is_validated() {
    crate::test_util::assert_schema_documented::<JsonThreatProtectionConfig>();
    assert_eq!(entry(KIND, json!({})).policy.kind(), KIND);
    assert!(entry(KIND, json!({})).policy.needs_request_body());
    assert_eq!(
        compile_errors(KIND, json!({ "content_types": ["json"] })),
        [err(
            "content_types[0]",
            "'json' is neither a media type (`type/subtype`) nor a suffix (`+json`)"
        )]
    );
    assert_eq!(
        compile_errors(KIND, json!({ "max_dept": 3 }))[0].path,
        "max_dept"
    );
    assert_eq!(
        compile_in(KIND, json!({}), Phase::Response).unwrap_err(),
        [err(
            "",
            "json-threat-protection checks request bodies; place it in a request list"
        )]
    );
}

#[tokio::test]
async fn limits_answer_400_with_code_and_location() {
    let p = pipeline(json!({ "max_depth": 2, "max_string_length": 3 }));
    assert!(
        post(&p, Some("application/json"), r#"{"a":[1]}"#)
            .await
            .is_ok()
    );
    let e = post(&p, Some("application/json"), r#"{"a":[[1]]}"#)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status().as_u16(), e.code()),
        (400, "json.depth_exceeded")
    );
    assert_eq!(e.extra().unwrap()["location"], "$.a[0]");
    assert_eq!(e.extra().unwrap()["limit"], 2);
    assert!(e.detail().unwrap().contains("$.a[0]"), "{e}");
    let e = post(&p, Some("application/json"), r#"{"a":"abcd"}"#)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "json.string_length_exceeded");
    let e = post(&p, Some("application/json"), r#"{"a":}"#)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "json.invalid");
}

#[tokio::test]
async fn disabled_limit_is_not_enforced() {
    let p = pipeline(json!({ "max_depth": null }));
    let deep: &'static str =
        Box::leak(format!("{}{}", "[".repeat(100), "]".repeat(100)).into_boxed_str());
    assert!(post(&p, Some("application/json"), deep).await.is_ok());
    let p = pipeline(json!({}));
    assert_eq!(
        post(&p, Some("application/json"), deep)
            .await
            .unwrap_err()
            .code(),
        "json.depth_exceeded"
    );
}

#[tokio::test]
async fn content_type_selection_closes_the_apigee_bypass() {
    let p = pipeline(json!({}));
    let bad = r#"{"a":"#;
    for ct in [
        Some("application/json; charset=utf-8"),
        Some("Application/Vnd.Api+JSON"),
        // ASP.NET Core parses it as JSON.
        Some("text/json"),
        None,
    ] {
        assert!(post(&p, ct, bad).await.is_err(), "{ct:?} must be checked");
    }
    // Other types pass untouched, and an unlabelled body that looks like XML is not JSON's.
    assert!(post(&p, Some("text/plain"), bad).await.is_ok());
    assert!(post(&p, None, "<a/>").await.is_ok());
    // check_all_bodies checks whatever the label says.
    let p = pipeline(json!({ "check_all_bodies": true }));
    assert!(post(&p, Some("text/plain"), bad).await.is_err());
    assert!(post(&p, Some("text/plain"), r#"{"a":1}"#).await.is_ok());
    // A custom list replaces the default.
    let p = pipeline(json!({ "content_types": ["application/x-ndjson"] }));
    assert!(post(&p, Some("application/json"), bad).await.is_ok());
    assert!(post(&p, Some("application/x-ndjson"), bad).await.is_err());
}

#[tokio::test]
async fn empty_and_streaming_bodies_pass() {
    let p = pipeline(json!({}));
    assert!(post(&p, Some("application/json"), "").await.is_ok());
    let mut ex = exchange("GET", "/", &[("content-type", "application/json")]);
    assert!(matches!(
        run(&p, &mut ex, 200).await.outcome,
        RequestOutcome::Forward
    ));
}

#[tokio::test]
async fn monitor_mode_forwards_and_records_an_event() {
    let p = pipeline(json!({ "mode": "monitor" }));
    let mut ex = exchange("POST", "/", &[("content-type", "application/json")]);
    ex.body = RequestBody::Buffered(Bytes::from_static(b"{]"));
    let done = run(&p, &mut ex, 200).await;
    assert!(matches!(done.outcome, RequestOutcome::Forward));
    assert_eq!(ex.ctx.events.len(), 1);
    assert_eq!(
        (ex.ctx.events[0].code, ex.ctx.events[0].mode),
        ("json.invalid", Mode::Monitor)
    );
}

/// The accepted body's tape is kept for later policies, which read it as a view of the very
/// same bytes, non-ASCII text included.
#[tokio::test]
async fn kept_tape_is_read_by_later_policies() {
    let p = pipeline(json!({}));
    let mut ex = exchange("POST", "/orders", &[("content-type", "application/json")]);
    ex.body = RequestBody::Buffered(Bytes::from_static(r#"{"name":"Zoë","n":[1,2]}"#.as_bytes()));
    assert!(matches!(
        run(&p, &mut ex, 200).await.outcome,
        RequestOutcome::Forward
    ));
    assert!(
        ex.request.extensions.get::<ParsedJsonBody>().is_some(),
        "tape kept"
    );
    let body = ex
        .body
        .content()
        .expect("decoded")
        .expect("buffered")
        .clone();
    let view = ParsedJsonBody::of(&ex).expect("a view of the body");
    assert!(view.is_of(&body));
    assert_eq!(
        view.root().get("name").and_then(|n| n.as_str()),
        Some("Zoë")
    );
}
