use bytes::Bytes;
use portcullis_policy::{Mode, Pipeline, RequestBody, RequestOutcome};
use serde_json::json;

use super::*;
use crate::test_util::{compile_errors, entry, exchange, request_pipeline, run};

fn pipeline(config: serde_json::Value) -> Pipeline {
    request_pipeline(vec![entry(KIND, config)])
}

async fn post(p: &Pipeline, content_type: Option<&str>, body: &str) -> Result<(), GatewayError> {
    let headers: Vec<_> = content_type
        .map(|c| ("content-type", c))
        .into_iter()
        .collect();
    let mut ex = exchange("POST", "/orders", &headers);
    ex.body = RequestBody::Buffered(Bytes::copy_from_slice(body.as_bytes()));
    match run(p, &mut ex, 200).await.outcome {
        RequestOutcome::Forward => Ok(()),
        RequestOutcome::Fail(e) => Err(e),
        RequestOutcome::Respond(r) => panic!("unexpected reply {r:?}"),
    }
}

const XXE: &str =
    r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;

#[test]
fn config_is_validated() {
    crate::test_util::assert_schema_documented::<XmlThreatProtectionConfig>();
    assert_eq!(entry(KIND, json!({})).policy.kind(), KIND);
    assert_eq!(
        compile_errors(KIND, json!({ "content_types": ["+"] }))[0].path,
        "content_types[0]"
    );
}

#[tokio::test]
async fn doctype_and_entities_are_refused_by_default() {
    let p = pipeline(json!({}));
    let e = post(&p, Some("application/xml"), XXE).await.unwrap_err();
    assert_eq!(
        (e.status().as_u16(), e.code()),
        (400, "xml.doctype_forbidden")
    );
    let e = post(&p, Some("text/xml"), "<r>&foo;</r>")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "xml.entity_reference_forbidden");
    assert!(
        post(&p, Some("text/xml"), "<r a='1'>&lt;ok&gt;</r>")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn limits_name_the_location() {
    let p = pipeline(json!({ "max_depth": 2 }));
    let e = post(&p, Some("application/soap+xml"), "<a><b><c/></b></a>")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "xml.depth_exceeded");
    assert_eq!(e.extra().unwrap()["location"], "/a/b/c");
}

#[tokio::test]
async fn content_type_selection() {
    let p = pipeline(json!({}));
    // Unlabelled bodies that start with `<` (after a BOM or blanks) are checked.
    assert!(post(&p, None, XXE).await.is_err());
    assert!(post(&p, None, &format!("\u{feff}  {XXE}")).await.is_err());
    // JSON and other labelled types are not XML's business...
    assert!(post(&p, None, r#"{"a":1}"#).await.is_ok());
    assert!(post(&p, Some("text/plain"), XXE).await.is_ok());
    // ...unless every body is to be checked.
    let p = pipeline(json!({ "check_all_bodies": true }));
    assert!(post(&p, Some("text/plain"), XXE).await.is_err());
}

#[tokio::test]
async fn monitor_mode_forwards_and_records_an_event() {
    let p = pipeline(json!({ "mode": "monitor" }));
    let mut ex = exchange("POST", "/", &[("content-type", "application/xml")]);
    ex.body = RequestBody::Buffered(Bytes::from_static(XXE.as_bytes()));
    assert!(matches!(
        run(&p, &mut ex, 200).await.outcome,
        RequestOutcome::Forward
    ));
    assert_eq!(
        (ex.ctx.events[0].code, ex.ctx.events[0].mode),
        ("xml.doctype_forbidden", Mode::Monitor)
    );
}
